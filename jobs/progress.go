package jobs

import (
	"context"
	"sync"

	"github.com/mrrflow/mrrflow/extract"
)

// Progress follows the records read from each source.
type Progress interface {
	// Source starts counting the records of a source.
	Source(name string)
	// Read adds n records.
	Read(n int)
	// Done ends the count of the current source.
	Done()
}

// counted passes an extractor's records on, telling p of every 4096th.
type counted struct {
	extract.Extractor
	p Progress
}

func (c counted) Extract(ctx context.Context, fn func(*extract.Record) error) error {
	n := 0
	err := c.Extractor.Extract(ctx, func(r *extract.Record) error {
		if n++; n&4095 == 0 {
			c.p.Read(4096)
		}
		return fn(r)
	})
	c.p.Read(n & 4095)
	return err
}

// countedBlocks is counted for an extractor whose blocks are parsed on
// several goroutines: each block tells p of its records when it is done.
type countedBlocks struct {
	counted
	bx extract.BlockExtractor
	mu *sync.Mutex
}

func (c countedBlocks) ExtractBlocks(ctx context.Context, fn func(extract.Block) error) error {
	return c.bx.ExtractBlocks(ctx, func(b extract.Block) error { return fn(countedBlock{b, c}) })
}

type countedBlock struct {
	extract.Block
	c countedBlocks
}

func (b countedBlock) Each(fn func(*extract.Record) error) error {
	n := 0
	err := b.Block.Each(func(r *extract.Record) error {
		n++
		return fn(r)
	})
	b.c.mu.Lock()
	b.c.p.Read(n)
	b.c.mu.Unlock()
	return err
}
