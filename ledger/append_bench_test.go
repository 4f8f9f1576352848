package ledger

import (
	"context"
	"testing"
)

// BenchmarkAppend1KiB appends 1 KiB notes with up to 8192 in flight, so
// group commit forms batches; each batch is one fsync.
func BenchmarkAppend1KiB(b *testing.B) {
	ctx := context.Background()
	l, err := Open(b.TempDir(), testKey(9), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	body := make([]byte, 1024-EntryHeaderSize)
	b.SetBytes(1024)
	b.ResetTimer()
	const inflight = 8192
	fs := make([]*Future, 0, inflight)
	for i := 0; i < b.N; i++ {
		fs = append(fs, l.Add(ctx, TypeNote, body))
		if len(fs) == inflight {
			for _, f := range fs {
				if _, err := f.Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			fs = fs[:0]
		}
	}
	for _, f := range fs {
		if _, err := f.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
