package mempool

import (
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestReuseIsZeroedAndSameClass(t *testing.T) {
	parent := memory.NewCheckedAllocator(memory.NewGoAllocator())
	p := New(parent, 1<<20)
	b := p.Allocate(100)
	if len(b) != 100 || cap(b) != 128 {
		t.Fatalf("len %d cap %d, want 100 and 128", len(b), cap(b))
	}
	for i := range b {
		b[i] = 0xff
	}
	first := &b[0]
	p.Free(b)
	c := p.Allocate(120) // same class: the freed buffer again
	if &c[0] != first {
		t.Fatal("a freed buffer of the class was not reused")
	}
	for i, v := range c[:cap(c)] {
		if v != 0 {
			t.Fatalf("byte %d of a reused buffer is %#x, want 0", i, v)
		}
	}
	if d := p.Allocate(300); &d[0] == first || cap(d) != 512 {
		t.Fatalf("another class: cap %d, reused %v", cap(d), &d[0] == first)
	} else {
		p.Free(d)
	}
	p.Free(c)
	if got := parent.CurrentAlloc(); got != 128+512 {
		t.Fatalf("parent holds %d bytes, want the two kept buffers (640)", got)
	}
	p.Close()
	parent.AssertSize(t, 0)
}

func TestReallocate(t *testing.T) {
	parent := memory.NewCheckedAllocator(memory.NewGoAllocator())
	p := New(parent, 1<<20)
	b := p.Allocate(10)
	for i := range b {
		b[i] = byte(i + 1)
	}
	b = p.Reallocate(4, b) // shrink, in place
	b = p.Reallocate(40, b)
	for i, v := range b {
		want := byte(0)
		if i < 4 {
			want = byte(i + 1)
		}
		if v != want {
			t.Fatalf("in place: byte %d is %d, want %d", i, v, want)
		}
	}
	b = p.Reallocate(1000, b) // another class: copied
	if len(b) != 1000 || cap(b) != 1024 || b[3] != 4 || b[4] != 0 || b[999] != 0 {
		t.Fatalf("moved: len %d cap %d, bytes %v", len(b), cap(b), b[:6])
	}
	p.Free(b)
	p.Close()
	parent.AssertSize(t, 0)
}

func TestLimitAndClose(t *testing.T) {
	parent := memory.NewCheckedAllocator(memory.NewGoAllocator())
	p := New(parent, 1024)
	a, b := p.Allocate(1024), p.Allocate(1024)
	p.Free(a) // kept: the pool holds 1024
	p.Free(b) // over the limit: to the parent
	if got := parent.CurrentAlloc(); got != 1024 {
		t.Fatalf("parent holds %d bytes, want 1024 (one kept)", got)
	}
	c := p.Allocate(64)
	p.Close()
	if got := parent.CurrentAlloc(); got != 64 {
		t.Fatalf("after Close the parent holds %d bytes, want the 64 in use", got)
	}
	p.Free(c) // after Close: to the parent
	parent.AssertSize(t, 0)
}

// TestConcurrent allocates and frees from several goroutines (run under
// -race by .ci/run); each checks that its buffer is its own.
func TestConcurrent(t *testing.T) {
	parent := memory.NewCheckedAllocator(memory.NewGoAllocator())
	p := New(parent, 1<<16)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				b := p.Allocate(1 + (i*37+g)%3000)
				for j := range b {
					b[j] = byte(g)
				}
				for j := range b {
					if b[j] != byte(g) {
						t.Errorf("goroutine %d: buffer shared", g)
						return
					}
				}
				p.Free(b)
			}
		})
	}
	wg.Wait()
	p.Close()
	parent.AssertSize(t, 0)
}

// A buffer the pool did not make as it makes them (its size not a power
// of two) goes back to the parent, never to a free list.
func TestForeignBufferNotKept(t *testing.T) {
	parent := memory.NewCheckedAllocator(memory.NewGoAllocator())
	p := New(parent, 1<<20)
	p.Free(parent.Allocate(100))
	parent.AssertSize(t, 0)
	if b := p.Allocate(100); cap(b) != 128 {
		t.Fatalf("cap %d, want a fresh 128", cap(b))
	} else {
		p.Free(b)
	}
	p.Close()
	parent.AssertSize(t, 0)
}
