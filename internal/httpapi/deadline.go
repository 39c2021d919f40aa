package httpapi

import (
	"net"
	"time"
)

// deadlineSlack is how far a requested deadline may differ from the one in force before the
// connection's deadline is actually moved.
const deadlineSlack = time.Second

// coarseListener wraps accepted connections in coarseConn.
type coarseListener struct{ net.Listener }

func (l coarseListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &coarseConn{Conn: c}, nil
}

// coarseConn coalesces deadline updates. The HTTP server moves a connection's read and write
// deadlines two or three times per request (idle timeout, read timeout, write timeout), and
// each move re-arms a runtime timer; at ~100k requests/s on one core that is several percent of
// the CPU. coarseConn applies a new deadline only when it is earlier than the one in force, or
// later by more than deadlineSlack, so timeouts still hold to within a second. A zero deadline
// (no timeout) is applied as is. Like net.Conn deadlines, it is not meant for concurrent
// setters; the HTTP server sets them from the connection's goroutine.
type coarseConn struct {
	net.Conn
	read, write time.Time
}

func (c *coarseConn) SetReadDeadline(t time.Time) error {
	if !moveDeadline(c.read, t) {
		return nil
	}
	c.read = t
	return c.Conn.SetReadDeadline(t)
}

func (c *coarseConn) SetWriteDeadline(t time.Time) error {
	if !moveDeadline(c.write, t) {
		return nil
	}
	c.write = t
	return c.Conn.SetWriteDeadline(t)
}

func (c *coarseConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// moveDeadline reports whether the deadline in force (cur) must change to honour want.
func moveDeadline(cur, want time.Time) bool {
	switch {
	case want.IsZero() || cur.IsZero():
		return !want.Equal(cur)
	case want.Before(cur):
		return true
	default:
		return want.Sub(cur) > deadlineSlack
	}
}
