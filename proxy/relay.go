package proxy

import (
	"encoding/binary"

	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// relayResult is what the proxy learned from a relayed response.
type relayResult struct {
	err      error // the backend's ERR (already sent to the client)
	affected uint64
	insertID uint64
	status   uint16 // status flags of the final packet, as the backend sent them
	warnings uint16
	// started says a packet already reached the client: after that, a failure leaves the
	// client's protocol state unknown and the connection must close.
	started bool
}

// relayFlags adjust the final packet of a relayed response.
type relayFlags struct {
	more       bool   // another result of the same client command follows (multi-statement)
	setStatus  bool   // replace the transaction bits of the status with sessStatus
	sessStatus uint16 // in-transaction / autocommit bits as the session sees them
	localFiles bool   // the client allowed LOAD DATA LOCAL
}

// relay copies one complete response to a command from backend b to client c, packet by
// packet, without decoding rows. It follows multi-results, LOCAL INFILE exchanges and
// patches the final packet's status flags (MORE_RESULTS for multi-statements, the
// session's transaction state). A network error on either side is returned; a backend
// ERR packet is relayed and reported in relayResult.err.
func relay(c *wire.Conn, b *backendConn, f relayFlags) (relayResult, error) {
	var r relayResult
	for {
		pkt, err := b.readPacket()
		if err != nil {
			return r, backendError(b.addr(), err)
		}
		switch pkt[0] {
		case pktOK:
			ok := parseOK(pkt)
			r.affected, r.insertID, r.status, r.warnings = ok.affected, ok.insertID, ok.status, ok.warnings
			b.status = ok.status
			if ok.statusOff > 0 {
				patchStatus(pkt[ok.statusOff:], ok.status, f)
			}
			r.started = true
			if err := c.WritePacket(pkt); err != nil {
				return r, err
			}
			if ok.status&statusMoreResults == 0 {
				return r, nil
			}
		case pktErr:
			r.err = parseErrPacket(pkt)
			r.started = true
			if err := c.WritePacket(pkt); err != nil {
				return r, err
			}
			return r, nil
		case pktLocal:
			r.started = true
			if err := relayLocalInfile(c, b, pkt, f.localFiles); err != nil {
				return r, err
			}
		default:
			r.started = true
			st, err := relayResultSet(c, b, pkt, f)
			if err != nil {
				return r, err
			}
			r.status = st
			b.status = st
			if st&statusMoreResults == 0 {
				return r, nil
			}
		}
	}
}

// patchStatus rewrites the status flags at st[0:2] for the final packet of a response.
func patchStatus(st []byte, backend uint16, f relayFlags) {
	s := backend
	if f.setStatus {
		s = s&^(statusInTrans|statusAutocommit) | f.sessStatus
	}
	if backend&statusMoreResults == 0 {
		if f.more {
			s |= statusMoreResults
		} else {
			s &^= statusMoreResults
		}
	}
	binary.LittleEndian.PutUint16(st, s)
}

// relayResultSet copies column definitions, the EOF after them, the rows and the final
// EOF (or ERR). first is the column-count packet. It returns the final status flags.
func relayResultSet(c *wire.Conn, b *backendConn, first []byte, f relayFlags) (uint16, error) {
	if err := c.WritePacket(first); err != nil {
		return 0, err
	}
	eofs := 0
	for {
		pkt, err := b.readPacket()
		if err != nil {
			return 0, backendError(b.addr(), err)
		}
		if pkt[0] == pktErr {
			if err := c.WritePacket(pkt); err != nil {
				return 0, err
			}
			return 0, nil
		}
		if pkt[0] == pktEOF && len(pkt) < 9 {
			eofs++
			if eofs == 2 {
				st := binary.LittleEndian.Uint16(pkt[3:5])
				patchStatus(pkt[3:5], st, f)
				return st, c.WritePacket(pkt)
			}
		}
		if err := c.WritePacket(pkt); err != nil {
			return 0, err
		}
	}
}

// relayFieldList copies a COM_FIELD_LIST response: column definitions up to EOF, or ERR.
func relayFieldList(c *wire.Conn, b *backendConn) error {
	for {
		pkt, err := b.readPacket()
		if err != nil {
			return backendError(b.addr(), err)
		}
		if err := c.WritePacket(pkt); err != nil {
			return err
		}
		if pkt[0] == pktErr || (pkt[0] == pktEOF && len(pkt) < 9) {
			return nil
		}
	}
}

// relayLocalInfile handles LOAD DATA LOCAL: the backend asks for a file; the client sends
// it in packets ending with an empty one, which the proxy forwards; the backend's OK/ERR
// then comes through relay's loop. A client that did not allow local files is answered
// for: the proxy sends the backend an empty file so it fails the statement cleanly.
func relayLocalInfile(c *wire.Conn, b *backendConn, req []byte, allowed bool) error {
	if !allowed {
		return b.writePacket(nil)
	}
	if err := c.WritePacket(req); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return err
	}
	for {
		pkt, err := c.ReadPacket()
		if err != nil {
			// The client went away mid-file: end the file so the backend finishes the statement.
			_ = b.writePacket(nil)
			return err
		}
		if err := b.writePacket(pkt); err != nil {
			return backendError(b.addr(), err)
		}
		if len(pkt) == 0 {
			return nil
		}
	}
}

// prepareResponse is what COM_STMT_PREPARE returned.
type prepareResponse struct {
	stmt   backendStmt
	err    error
	fields [][]byte // parameter and column definition packets (copies), for relaying to clients
}

// readPrepare reads a COM_STMT_PREPARE response, keeping the metadata packets.
func readPrepare(b *backendConn) (prepareResponse, error) {
	var r prepareResponse
	pkt, err := b.readPacket()
	if err != nil {
		return r, backendError(b.addr(), err)
	}
	if pkt[0] == pktErr {
		r.err = parseErrPacket(pkt)
		return r, nil
	}
	if pkt[0] != pktOK || len(pkt) < 12 {
		return r, sqlerr.Internal("malformed prepare response from %s", b.addr())
	}
	r.stmt.id = binary.LittleEndian.Uint32(pkt[1:5])
	r.stmt.columns = binary.LittleEndian.Uint16(pkt[5:7])
	r.stmt.params = binary.LittleEndian.Uint16(pkt[7:9])
	n := 0
	if r.stmt.params > 0 {
		n += int(r.stmt.params) + 1
	}
	if r.stmt.columns > 0 {
		n += int(r.stmt.columns) + 1
	}
	r.fields = append(r.fields, append([]byte(nil), pkt...))
	for i := 0; i < n; i++ {
		p, err := b.readPacket()
		if err != nil {
			return r, backendError(b.addr(), err)
		}
		r.fields = append(r.fields, append([]byte(nil), p...))
	}
	return r, nil
}
