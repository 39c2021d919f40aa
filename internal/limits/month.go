package limits

import (
	"strconv"
	"time"
)

// MonthID identifies a UTC calendar month as year·12 + (month-1), so that consecutive months
// have consecutive IDs: 2026-12 is 24323 and 2027-01 is 24324.
type MonthID int32

// MonthOf returns the UTC month t falls in.
func MonthOf(t time.Time) MonthID {
	y, m, _ := t.UTC().Date()
	return MonthID(y*12 + int(m) - 1)
}

// MonthAt returns the UTC month of the instant now, in Unix nanoseconds.
func MonthAt(now int64) MonthID { return MonthOf(time.Unix(0, now)) }

// Year returns m's year.
func (m MonthID) Year() int { return int(m) / 12 }

// Month returns m's month of the year.
func (m MonthID) Month() time.Month { return time.Month(int(m)%12 + 1) }

// Start returns 00:00:00 UTC on the first day of m.
func (m MonthID) Start() time.Time {
	return time.Date(m.Year(), m.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Next returns the month after m.
func (m MonthID) Next() MonthID { return m + 1 }

// String returns m as "YYYY-MM".
func (m MonthID) String() string {
	mm := int(m.Month())
	s := strconv.Itoa(m.Year()) + "-"
	if mm < 10 {
		s += "0"
	}
	return s + strconv.Itoa(mm)
}

// monthSpan is one month and its bounds in Unix nanoseconds, [start, end).
type monthSpan struct {
	id         MonthID
	start, end int64
}

func spanOf(now int64) *monthSpan {
	id := MonthAt(now)
	return &monthSpan{id: id, start: id.Start().UnixNano(), end: id.Next().Start().UnixNano()}
}
