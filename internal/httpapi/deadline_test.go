package httpapi

import (
	"testing"
	"time"
)

func TestMoveDeadline(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name      string
		cur, want time.Time
		move      bool
	}{
		{"first deadline", time.Time{}, t0, true},
		{"clear", t0, time.Time{}, true},
		{"already clear", time.Time{}, time.Time{}, false},
		{"same", t0, t0, false},
		{"slightly later", t0, t0.Add(300 * time.Millisecond), false},
		{"much later", t0, t0.Add(2 * time.Second), true},
		{"earlier", t0, t0.Add(-time.Millisecond), true},
	} {
		if got := moveDeadline(tc.cur, tc.want); got != tc.move {
			t.Errorf("%s: moveDeadline = %v, want %v", tc.name, got, tc.move)
		}
	}
}
