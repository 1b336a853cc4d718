package mempool

import (
	"math/bits"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// minClass is the smallest buffer kept, as a power of two (64 bytes).
const minClass = 6

// Pool allocates from a parent allocator in sizes of powers of two and
// keeps freed buffers, up to a bound, for the next allocations of their
// size. It is safe for concurrent use. Close returns what it keeps to the
// parent.
type Pool struct {
	parent memory.Allocator
	limit  int

	mu     sync.Mutex
	free   [64][][]byte // by class: buffers of 1<<class bytes
	kept   int          // bytes in free
	closed bool
}

// New makes a pool over parent that keeps at most limit bytes of free
// buffers.
func New(parent memory.Allocator, limit int) *Pool {
	return &Pool{parent: parent, limit: limit}
}

// class is the power of two a buffer of size bytes is allocated in.
func class(size int) int {
	if size <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(size - 1))
}

// Allocate returns size zeroed bytes, a kept buffer when one of the class
// is free.
func (p *Pool) Allocate(size int) []byte {
	c := class(size)
	p.mu.Lock()
	if n := len(p.free[c]); n > 0 {
		b := p.free[c][n-1]
		p.free[c] = p.free[c][:n-1]
		p.kept -= len(b)
		p.mu.Unlock()
		clear(b)
		return b[:size]
	}
	p.mu.Unlock()
	return p.parent.Allocate(1 << c)[:size]
}

// Reallocate resizes b to size bytes: in place within its class, else
// into a new buffer (the bytes beyond b's length are zero either way).
func (p *Pool) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		if size > len(b) {
			clear(b[len(b):size])
		}
		return b[:size]
	}
	out := p.Allocate(size)
	copy(out, b)
	p.Free(b)
	return out
}

// Free keeps b for reuse, or returns it to the parent when the pool holds
// its limit.
func (p *Pool) Free(b []byte) {
	b = b[:cap(b)]
	if len(b) == 0 {
		return
	}
	if c := class(len(b)); len(b) != 1<<c {
		p.parent.Free(b) // not one of ours as we made it: never reused
		return
	}
	p.mu.Lock()
	if !p.closed && p.kept+len(b) <= p.limit {
		c := class(len(b))
		p.free[c] = append(p.free[c], b)
		p.kept += len(b)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.parent.Free(b)
}

// Close returns the kept buffers to the parent; buffers freed after it go
// straight to the parent.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for c := range p.free {
		for _, b := range p.free[c] {
			p.parent.Free(b)
		}
		p.free[c] = nil
	}
	p.kept = 0
}

var _ memory.Allocator = (*Pool)(nil)
