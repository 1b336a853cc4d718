package scaleout

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/mrrflow/mrrflow/schemas"
)

// The pipeline's data (its input pieces, the stored tables it reads and
// the merged partial) lives at a location: a local directory, for a runner
// on this machine, or gs://bucket/prefix, for Dataflow's workers. These
// functions read and write objects of either by their full name.

// isGCS says whether a location is on Cloud Storage.
func isGCS(name string) bool { return strings.HasPrefix(name, "gs://") }

// joinData is a name under a location.
func joinData(base string, elem ...string) string {
	if isGCS(base) {
		return strings.TrimSuffix(base, "/") + "/" + path.Join(elem...)
	}
	return filepath.Join(append([]string{base}, elem...)...)
}

// object is the Cloud Storage object of a gs:// name.
func object(ctx context.Context, name string) (*storage.ObjectHandle, error) {
	bucket, obj, ok := strings.Cut(strings.TrimPrefix(name, "gs://"), "/")
	if bucket == "" || !ok || obj == "" {
		return nil, fmt.Errorf("%s: not gs://BUCKET/OBJECT", name)
	}
	c, err := gcsClient()
	if err != nil {
		return nil, err
	}
	return c.Bucket(bucket).Object(obj), nil
}

// gcs is the Cloud Storage client of this process, made on first use:
// Application Default Credentials (a Dataflow worker's service account),
// or the emulator STORAGE_EMULATOR_HOST names, which it reads when made.
var gcs struct {
	sync.Mutex
	host   string
	client *storage.Client
}

func gcsClient() (*storage.Client, error) {
	gcs.Lock()
	defer gcs.Unlock()
	host := os.Getenv("STORAGE_EMULATOR_HOST")
	if gcs.client != nil && gcs.host == host {
		return gcs.client, nil
	}
	// Reads by the JSON API, as writes: the emulator in the tests does not
	// serve the XML API's reads of names with slashes.
	c, err := storage.NewClient(context.Background(), storage.WithJSONReads())
	if err != nil {
		return nil, fmt.Errorf("cloud storage: %w", err)
	}
	if gcs.client != nil {
		gcs.client.Close()
	}
	gcs.host, gcs.client = host, c
	return c, nil
}

// writeData writes an object whole. Nobody sees a part of it: a local file
// is written under a temporary name and renamed, and a Cloud Storage
// object exists only once its upload is complete.
func writeData(ctx context.Context, name string, data []byte) error {
	if !isGCS(name) {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		tmp := name + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, name)
	}
	return uploadGCS(ctx, name, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// uploadGCS writes a Cloud Storage object from fn; a failed fn leaves no
// object.
func uploadGCS(ctx context.Context, name string, fn func(io.Writer) error) error {
	obj, err := object(ctx, name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.NewWriter(ctx)
	if err := fn(w); err != nil {
		cancel() // abandons the upload
		w.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// readData reads an object whole.
func readData(ctx context.Context, name string) ([]byte, error) {
	if !isGCS(name) {
		return os.ReadFile(name)
	}
	obj, err := object(ctx, name)
	if err != nil {
		return nil, err
	}
	r, err := obj.NewReader(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

// openData opens an object to be read at any offset: a Cloud Storage
// object by ranged reads, one request per read (a Parquet reader reads
// the footer, then a row group's column chunks, each in one read).
func openData(ctx context.Context, name string) (schemas.RandomReader, func() error, error) {
	if !isGCS(name) {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, err
		}
		return f, f.Close, nil
	}
	obj, err := object(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	// The generation read first is the one read throughout.
	obj = obj.Generation(attrs.Generation)
	return io.NewSectionReader(&rangeReader{ctx: ctx, obj: obj, size: attrs.Size}, 0, attrs.Size), func() error { return nil }, nil
}

// rangeReader reads a Cloud Storage object at offsets.
type rangeReader struct {
	ctx  context.Context
	obj  *storage.ObjectHandle
	size int64
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.size-off)
	rd, err := r.obj.NewRangeReader(r.ctx, off, n)
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	k, err := io.ReadFull(rd, p[:n])
	if err == nil && k < len(p) {
		err = io.EOF
	}
	return k, err
}

// listData is the names of the objects under a location, in no order.
func listData(ctx context.Context, dir string) ([]string, error) {
	if !isGCS(dir) {
		var out []string
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if errors.Is(err, os.ErrNotExist) && p == dir {
				return filepath.SkipDir
			}
			if err == nil && !d.IsDir() {
				out = append(out, p)
			}
			return err
		})
		return out, err
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	bucket, obj, _ := strings.Cut(strings.TrimPrefix(prefix, "gs://"), "/")
	c, err := gcsClient()
	if err != nil {
		return nil, err
	}
	var out []string
	it := c.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: obj})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		out = append(out, "gs://"+bucket+"/"+a.Name)
	}
}

// removeData removes an object; one that is gone already is no error.
func removeData(ctx context.Context, name string) error {
	if !isGCS(name) {
		err := os.Remove(name)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	obj, err := object(ctx, name)
	if err != nil {
		return err
	}
	if err := obj.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// removeAllData removes a location and everything under it.
func removeAllData(ctx context.Context, dir string) error {
	if !isGCS(dir) {
		return os.RemoveAll(dir)
	}
	names, err := listData(ctx, dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := removeData(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// mirrorFile copies a local file to dir under the name of its content
// (its SHA-256), unless an object of that name and of the same MD5 is
// there already: a stored table read night after night is uploaded once,
// and a copy that was damaged is replaced. It returns the object's name;
// with copy false, it only names it.
func mirrorFile(ctx context.Context, local, dir string, copy bool) (string, error) {
	f, err := os.Open(local)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum, md := sha256.New(), md5.New()
	if _, err := io.Copy(io.MultiWriter(sum, md), f); err != nil {
		return "", fmt.Errorf("read %s: %w", local, err)
	}
	name := joinData(dir, hex.EncodeToString(sum.Sum(nil))+filepath.Ext(local))
	if !copy {
		return name, nil
	}
	if ok, err := sameMD5(ctx, name, md.Sum(nil)); err != nil || ok {
		return name, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if !isGCS(name) {
		data, err := io.ReadAll(f)
		if err != nil {
			return "", err
		}
		return name, writeData(ctx, name, data)
	}
	return name, uploadGCS(ctx, name, func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	})
}

// sameMD5 says whether an object exists with this MD5 of its content.
func sameMD5(ctx context.Context, name string, want []byte) (bool, error) {
	if !isGCS(name) {
		data, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		have := md5.Sum(data)
		return err == nil && bytes.Equal(have[:], want), err
	}
	obj, err := object(ctx, name)
	if err != nil {
		return false, err
	}
	a, err := obj.Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", name, err)
	}
	return bytes.Equal(a.MD5, want), nil
}
