package jobs

// The incremental state's files: a manifest, the accumulators, and numbers
// by customer (quiet days, digests), each listed in the manifest by its
// SHA-256.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/mrrflow/mrrflow/internal/store"
	"github.com/mrrflow/mrrflow/metrics"
)

// incrementalManifestFile says what the kept partial was computed from.
type incrementalManifestFile struct {
	Version     int    `json:"version"`
	Fingerprint string `json:"fingerprint"`
	AsOf        string `json:"as_of"`
	Customers   int    `json:"customers"`
	RunID       string `json:"run_id"`
	// Digested are the sources whose customers' digests are kept (those
	// a run held in memory); the others' are made from their published
	// tables when they change.
	Digested []string `json:"digested"`
	// Rates are the exchange rates the kept result was computed with: the
	// recomputed customers' former result is computed with them, and the
	// customers in a currency whose rates changed are recomputed.
	Rates []metrics.Rate `json:"rates"`
	// Plans are the digests of the plans: the subscribers of a plan that
	// changed are recomputed.
	Plans []planDigest `json:"plans"`
	// Files are the SHA-256 of the other state files: a state file of
	// another run is not used.
	Files map[string]string `json:"files"`
}

// customerState is what is kept of each customer: its quiet day, and the
// digest of its records in the digested sources.
type customerState struct {
	quiet    map[string]int32
	digests  map[string]uint64
	digested map[string]bool
}

// stageIncremental stages the state the next run starts from.
func (r *run) stageIncremental(p *metrics.Partial, st *customerState, fp string, rates []metrics.Rate, plans []planDigest) error {
	// The tables are the marts the run publishes beside.
	acc, err := p.MarshalAccumulators()
	if err != nil {
		return err
	}
	quiet := make(map[string]uint64, len(st.quiet))
	for k, d := range st.quiet {
		quiet[k] = uint64(uint32(d))
	}
	man := incrementalManifestFile{Version: incrementalVersion, Fingerprint: fp, AsOf: r.rec.AsOf, Customers: len(st.quiet),
		RunID: r.rec.RunID, Digested: slices.Sorted(maps.Keys(st.digested)), Rates: rates, Plans: plans, Files: map[string]string{}}
	for _, f := range []struct {
		path string
		data []byte
	}{{incrementalAccumulators, acc}, {incrementalQuiet, encodeKeyed(quiet)}, {incrementalDigests, encodeKeyed(st.digests)}} {
		sum := sha256.Sum256(f.data)
		man.Files[f.path] = hex.EncodeToString(sum[:])
		if _, err := r.tx.WriteFile(f.path, func(w io.Writer) error {
			_, err := w.Write(f.data)
			return err
		}); err != nil {
			return err
		}
	}
	return stageState(r.tx, incrementalManifest, man)
}

// readStateFile reads a state file the manifest lists, as it was written.
func (r *run) readStateFile(man incrementalManifestFile, path string) ([]byte, error) {
	data, err := os.ReadFile(r.w.Path(path))
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != man.Files[path] {
		return nil, fmt.Errorf("%s is not the one the state's manifest lists", path)
	}
	return data, nil
}

// readCustomerState reads the kept quiet days and digests.
func (r *run) readCustomerState(man incrementalManifestFile) (*customerState, error) {
	st := &customerState{quiet: map[string]int32{}, digested: map[string]bool{}}
	data, err := r.readStateFile(man, incrementalQuiet)
	if err != nil {
		return nil, err
	}
	quiet, err := decodeKeyed(incrementalQuiet, data)
	if err != nil {
		return nil, err
	}
	for k, d := range quiet {
		st.quiet[k] = int32(uint32(d))
	}
	if data, err = r.readStateFile(man, incrementalDigests); err != nil {
		return nil, err
	}
	if st.digests, err = decodeKeyed(incrementalDigests, data); err != nil {
		return nil, err
	}
	for _, s := range man.Digested {
		st.digested[s] = true
	}
	return st, nil
}

// forgetIncremental removes the incremental state at commit: the next
// run computes everything.
func forgetIncremental(tx *store.Tx) {
	for _, p := range []string{incrementalManifest, incrementalAccumulators, incrementalQuiet, incrementalDigests} {
		tx.Remove(p)
	}
}

// keyedMagic starts a file of numbers by customer; the digit is its
// version.
const keyedMagic = "mrrflow by customer 1\n"

// encodeKeyed writes numbers by customer key, in key order (the same
// numbers are the same bytes).
func encodeKeyed(m map[string]uint64) []byte {
	keys := slices.Sorted(maps.Keys(m))
	b := binary.AppendUvarint([]byte(keyedMagic), uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, m[k])
	}
	return b
}

// decodeKeyed decodes a file of numbers by customer key.
func decodeKeyed(path string, data []byte) (map[string]uint64, error) {
	bad := fmt.Errorf("%s: not a file of numbers by customer, or cut short", path)
	if !bytes.HasPrefix(data, []byte(keyedMagic)) {
		return nil, bad
	}
	data = data[len(keyedMagic):]
	n, k := binary.Uvarint(data)
	if k <= 0 || n > uint64(len(data)) {
		return nil, bad
	}
	data = data[k:]
	out := make(map[string]uint64, n)
	for range n {
		l, k := binary.Uvarint(data)
		if k <= 0 || l > uint64(len(data)-k) {
			return nil, bad
		}
		key := string(data[k : k+int(l)])
		data = data[k+int(l):]
		v, k := binary.Uvarint(data)
		if k <= 0 {
			return nil, bad
		}
		data = data[k:]
		out[key] = v
	}
	if len(data) != 0 {
		return nil, bad
	}
	return out, nil
}
