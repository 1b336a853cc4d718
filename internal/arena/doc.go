// Package arena makes many short strings in shared buffers of 64 KiB, so
// that each costs no allocation of its own: a string is a view of bytes
// that are never written again (a full buffer is left for a new one, not
// grown). The strings keep their buffer alive: they suit records that are
// kept, and let go, together (those of one chunk of input).
//
// It may import: nothing of mrrflow.
package arena
