package main

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/mrrflow/mrrflow/jobs"
)

// terminalProgress shows the records read from each source as a counting
// spinner; it is used only when stderr is a terminal (cron logs get the
// per-step log lines instead).
type terminalProgress struct {
	e   env
	bar *progressbar.ProgressBar
}

// newProgress returns the progress display for a command, or nil when
// stderr is not a terminal.
func newProgress(e env) jobs.Progress {
	if !e.terminal {
		return nil
	}
	return &terminalProgress{e: e}
}

func (p *terminalProgress) Source(name string) {
	p.bar = progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(p.e.stderr),
		progressbar.OptionSetDescription(fmt.Sprintf("reading %s", name)),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("records"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *terminalProgress) Read(n int) {
	if p.bar != nil && n > 0 {
		p.bar.Add(n)
	}
}

func (p *terminalProgress) Done() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}
