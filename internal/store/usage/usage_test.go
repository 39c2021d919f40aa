package usage

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/trinityprice/trinity/internal/keys"
	"github.com/trinityprice/trinity/internal/limits"
	"github.com/trinityprice/trinity/internal/metering"
)

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []Cursor{
		{},
		{Minute: 29_000_000, Protocol: "http", Endpoint: "price", Asset: "btc", Outcome: "ok"},
		{Minute: math.MaxInt64, Protocol: `"quoted"\`, Endpoint: "é/日本", Asset: "", Outcome: "<&>"},
	} {
		s := c.String()
		got, err := ParseCursor(s)
		if err != nil || got != c {
			t.Errorf("ParseCursor(%q) = %+v, %v; want %+v", s, got, err, c)
		}
	}
	row := Row{Minute: MinuteTime(29_000_001), Protocol: "udp", Endpoint: "prices", Asset: "*", Outcome: "stale", Count: 9}
	if got, want := CursorOf(row), (Cursor{Minute: 29_000_001, Protocol: "udp", Endpoint: "prices", Asset: "*", Outcome: "stale"}); got != want {
		t.Errorf("CursorOf(%+v) = %+v, want %+v", row, got, want)
	}
}

func TestParseCursorErrors(t *testing.T) {
	for _, s := range []string{"", "!", "W10", Cursor{Minute: 1}.String() + "=", string(make([]byte, 5000))} {
		if c, err := ParseCursor(s); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("ParseCursor(%q) = %+v, %v; want ErrInvalid", s, c, err)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	f.Add(Cursor{Minute: 1, Protocol: "http", Endpoint: "price", Asset: "btc", Outcome: "ok"}.String())
	f.Add("W10")
	f.Add("WzEsMSwiYSIsImIiLCJjIiwiZCJd")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			if !errors.Is(err, keys.ErrInvalid) {
				t.Fatalf("ParseCursor(%q): %v, not ErrInvalid", s, err)
			}
			return
		}
		if c.Minute < 0 || !Storable(c.Protocol) || !Storable(c.Endpoint) || !Storable(c.Asset) || !Storable(c.Outcome) {
			t.Fatalf("ParseCursor(%q) = %+v: not a storable position", s, c)
		}
		if c2, err := ParseCursor(c.String()); err != nil || c2 != c {
			t.Fatalf("ParseCursor(%q) = %+v, but its String parses as %+v, %v", s, c, c2, err)
		}
	})
}

func TestMinuteFrom(t *testing.T) {
	m0 := time.Date(2025, 11, 3, 10, 20, 0, 0, time.UTC)
	base := m0.Unix() / 60
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{m0, base},
		{m0.Add(time.Nanosecond), base + 1},
		{m0.Add(59 * time.Second), base + 1},
		{m0.Add(-time.Nanosecond), base},
		{m0.In(time.FixedZone("X", 3600)), base},
		{time.Unix(0, 0), 0},
		{time.Unix(-1, 0), 0},
		{time.Unix(-60, 0), -1},
		{time.Unix(-61, 0), -1},
		{time.Time{}, 42},
	} {
		if got := MinuteFrom(tc.t, 42); got != tc.want {
			t.Errorf("MinuteFrom(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
	if got := MinuteTime(base); !got.Equal(m0) || got.Location() != time.UTC {
		t.Errorf("MinuteTime(%d) = %v, want %v UTC", base, got, m0)
	}
	from, to := MonthMinutes(limits.MonthOf(m0))
	if MinuteTime(from) != time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC) || MinuteTime(to) != time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("MonthMinutes(2025-11) = %v, %v", MinuteTime(from), MinuteTime(to))
	}
}

func TestChecks(t *testing.T) {
	good := metering.Record{KeyID: "key_a", Minute: 1, Protocol: "http", Endpoint: "price", Asset: "", Outcome: "ok", Count: 1}
	if err := CheckRecord(good); err != nil {
		t.Errorf("CheckRecord(%+v): %v", good, err)
	}
	for _, tier := range limits.DefaultTiers() {
		if err := CheckTier(tier); err != nil {
			t.Errorf("CheckTier(%+v): %v", tier, err)
		}
	}
	err := CheckTier(limits.Tier{Name: "x", Burst: -1})
	if !errors.Is(err, keys.ErrInvalid) || err.Error() != "invalid tier x: burst -1 < 0" {
		t.Errorf("CheckTier with a negative burst = %v", err)
	}
	log := ReportLog{At: time.Now(), KeyID: "key_a", Report: "usage", Format: "json", Protocol: "http", Status: 200}
	if err := CheckReportLog(log); err != nil {
		t.Errorf("CheckReportLog(%+v): %v", log, err)
	}
	log.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := CheckReportLog(log); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("CheckReportLog in year 10000: %v", err)
	}
}
