// Package feedtest supports the tests of the exchange adapters under internal/feed: sinks that
// record or count ticks, golden-frame tests (decode every recorded frame with a fresh session
// and compare the ticks, reply and error with a .golden file), the fuzz property every adapter
// shares, the zero-allocation check and the frame benchmark. It is imported only by tests.
package feedtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/trinityprice/trinity/internal/feed"
	"github.com/trinityprice/trinity/internal/price"
)

// RecordingSink is a price.Sink that keeps copies of the ticks and checks that every symbol
// is one of Want's own strings (same backing bytes: interned, not allocated per message). With
// no Want every tick is reported as an error.
type RecordingSink struct {
	T     testing.TB
	Want  []string
	Ticks []price.Tick
}

// NewRecordingSink returns a RecordingSink that reports to t and expects want's strings.
func NewRecordingSink(t testing.TB, want []string) *RecordingSink {
	return &RecordingSink{T: t, Want: want}
}

// Apply implements price.Sink.
func (r *RecordingSink) Apply(t *price.Tick) {
	interned := false
	for _, s := range r.Want {
		if unsafe.StringData(s) == unsafe.StringData(t.Symbol) && len(s) == len(t.Symbol) {
			interned = true
		}
	}
	if !interned {
		r.T.Errorf("tick symbol %q is not one of the session's symbol strings", t.Symbol)
	}
	r.Ticks = append(r.Ticks, *t)
}

// CountingSink is a price.Sink that only counts the ticks (for allocation tests and
// benchmarks).
type CountingSink struct{ N int }

// Apply implements price.Sink.
func (s *CountingSink) Apply(*price.Tick) { s.N++ }

// Render is the text of a .golden file: one line per tick, then the reply and the error of
// Handle, or "(nothing)".
func Render(ticks []price.Tick, reply []byte, err error) []byte {
	var b bytes.Buffer
	for _, t := range ticks {
		b.WriteString("tick exchange=" + t.Exchange.String() + " symbol=" + t.Symbol +
			" last=" + t.Last.String() + " bid=" + t.Bid.String() + " ask=" + t.Ask.String())
		if t.ExchangeTime != 0 {
			b.WriteString(" exchange_time=" + time.Unix(0, t.ExchangeTime).UTC().Format(time.RFC3339Nano))
		} else {
			b.WriteString(" exchange_time=0")
		}
		b.WriteString(" received=" + strconv.FormatInt(t.Received, 10) + "\n")
	}
	if reply != nil {
		b.WriteString("reply " + string(reply) + "\n")
	}
	if err != nil {
		b.WriteString("error " + err.Error() + "\n")
	}
	if b.Len() == 0 {
		b.WriteString("(nothing)\n")
	}
	return b.Bytes()
}

// FrameFiles are the recorded frames in dir: every file but the .golden ones, sorted. It
// fails t when there are none.
func FrameFiles(t testing.TB, dir string) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range all {
		if filepath.Ext(f) != ".golden" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		t.Fatalf("no frames in %s", dir)
	}
	return files
}

// ReadFrame reads the frame name from dir; a name without an extension means name.json.
func ReadFrame(t testing.TB, dir, name string) []byte {
	t.Helper()
	if filepath.Ext(name) == "" {
		name += ".json"
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RunGolden decodes every frame in dir (see FrameFiles) with a new session from newSession,
// received at 42 into a RecordingSink expecting symbols, and compares the Render of its ticks,
// reply and error with the .golden file next to the frame, one subtest per frame. With update
// it writes the golden files instead.
func RunGolden(t *testing.T, newSession func() feed.Session, symbols []string, dir string, update bool) {
	for _, f := range FrameFiles(t, dir) {
		base := strings.TrimSuffix(f, filepath.Ext(f))
		name := filepath.Base(base)
		t.Run(name, func(t *testing.T) {
			frame, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s := newSession()
			rec := NewRecordingSink(t, symbols)
			reply, herr := s.Handle(frame, 42, rec)
			got := Render(rec.Ticks, reply, herr)
			golden := base + ".golden"
			if update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: got\n%s\nwant\n%s", name, got, want)
			}
		})
	}
}

// AddFrames adds every frame in dir (see FrameFiles) to f's seed corpus.
func AddFrames(f *testing.F, dir string) {
	f.Helper()
	for _, name := range FrameFiles(f, dir) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// CheckFuzz is the property every adapter's FuzzHandle checks: s.Handle does not panic on
// frame, and every tick it emits carries one of symbols' own strings and no negative price or
// exchange time. The session is meant to be shared across inputs, as on a live connection, so
// its state must never go bad. CheckFuzz returns Handle's reply for further checks.
func CheckFuzz(t testing.TB, s feed.Session, symbols []string, frame []byte) []byte {
	t.Helper()
	rec := NewRecordingSink(t, symbols)
	reply, _ := s.Handle(frame, 1, rec)
	for _, tk := range rec.Ticks {
		if tk.Last < 0 || tk.Bid < 0 || tk.Ask < 0 || tk.ExchangeTime < 0 {
			t.Fatalf("negative value in %+v", tk)
		}
	}
	return reply
}

// ZeroAllocsPerFrame checks that Handle, on a session from newSession, decodes each of the
// named frames in dir (see ReadFrame) without allocating.
func ZeroAllocsPerFrame(t *testing.T, newSession func() feed.Session, dir string, names ...string) {
	t.Helper()
	for _, name := range names {
		frame := ReadFrame(t, dir, name)
		s := newSession()
		sink := &CountingSink{}
		if n := testing.AllocsPerRun(1000, func() {
			if _, err := s.Handle(frame, 1, sink); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("Handle(%s): %v allocs per frame, want 0", name, n)
		}
	}
}

// BenchFrames benchmarks Handle on each of the named frames in dir (see ReadFrame), one
// sub-benchmark per name, with a session from newSession and a CountingSink.
func BenchFrames(b *testing.B, newSession func() feed.Session, dir string, names ...string) {
	for _, name := range names {
		b.Run(name, func(b *testing.B) {
			frame := ReadFrame(b, dir, name)
			s := newSession()
			sink := &CountingSink{}
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, err := s.Handle(frame, 1, sink); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
