//go:build !linux

package udpapi

import (
	"errors"
	"net"
	"syscall"
)

// errNotLinux is returned by Listen elsewhere: the batched I/O uses Linux's recvmmsg/sendmmsg.
var errNotLinux = errors.New("the UDP price server needs Linux (recvmmsg/sendmmsg)")

func (s *Server) control(_, _ string, _ syscall.RawConn) error { return errNotLinux }

func sockBufs(*net.UDPConn) (rcv, snd int) { return -1, -1 }

type reader struct{}

func (s *Server) newReader(*net.UDPConn) (*reader, error) { return nil, errNotLinux }

func (r *reader) run() error { return errNotLinux }
