package backend

// COPY (db.c copyCommand). The copy of a collection is its Object's Clone:
// O(1), the two keys share structure copy-on-write. COPY is emitted as
// sent: its effect is deterministic given the keyspace.

const (
	errSameObject = "ERR source and destination objects are the same"
	errIntRange   = "ERR value is out of range, value must between -2147483648 and 2147483647"
)

func copyCommands() []*cmdSpec {
	return []*cmdSpec{
		{name: "copy", handler: cmdCopy, arity: -3, flags: flagWrite | flagDenyOOM, first: 1, last: 2, step: 1, group: "generic", since: "6.2.0", summary: "Copies the value of a key to a new key.", complexity: "O(N) worst case for collections, where N is the number of nested items. O(1) for string values."},
	}
}

// cmdCopy is COPY source destination [DB destination-db] [REPLACE]. The
// server has one database: DB 0 is the source's, any other index is out
// of range (redis-server's reply with "databases 1").
func cmdCopy(c *Client, args [][]byte) {
	src, dst := args[1], args[2]
	replace := false
	for j := 3; j < len(args); j++ {
		switch {
		case eqFold(args[j], "replace"):
			replace = true
		case eqFold(args[j], "db") && j+1 < len(args):
			db, ok := parseInt(args[j+1])
			if !ok {
				c.err(errNotInteger)
				return
			}
			if db != int64(int32(db)) {
				c.err(errIntRange)
				return
			}
			if db != 0 {
				c.err(errDBIndex)
				return
			}
			j++
		default:
			c.err(errSyntax)
			return
		}
	}
	if string(src) == string(dst) {
		c.err(errSameObject)
		return
	}
	tx := c.begin()
	tx.lockKeys(src, dst)
	defer c.commit()
	e, ssh, found := tx.lookupRead(src)
	if !found {
		c.int(0)
		return
	}
	old, dsh, exists := tx.lookup(dst)
	if exists {
		if !replace {
			c.int(0)
			return
		}
		tx.remove(dsh, old)
	}
	h := hashKey(dst)
	var ne entry
	if e.isObject() {
		// A Clone's original must not be modified afterwards (btree
		// Clone): the source gets a clone of its own too, and the
		// original stays with whatever snapshot may share it.
		r := e.rec()
		se := newObjectEntry(e.hash, r.key, r.obj.Clone(), ssh.gen)
		ssh.keys.Set(se.withExp(e.expireAt()))
		ne = newObjectEntry(h, string(dst), r.obj.Clone(), dsh.gen)
	} else {
		// The stored block is immutable, but holds the source's key:
		// the copy gets a block of its own.
		ne = newStringEntry(h, dst, sbytes(e.str()))
	}
	tx.put(dsh, ne.withExp(e.expireAt()), false)
	tx.notify(notifyGeneric, "copy_to", dst)
	c.emitSelf(tx)
	c.int(1)
}
