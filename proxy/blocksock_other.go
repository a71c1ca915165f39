//go:build !linux

package proxy

import "net"

// toBlocking keeps the poller's socket on systems other than Linux.
func toBlocking(nc net.Conn) net.Conn { return nc }
