package backend

// listObj is a list: a copy-on-write counted B+tree of elements (pushes
// and pops at both ends, LINDEX/LSET/LINSERT/LRANGE at any position in
// O(log n)). OBJECT ENCODING reports "quicklist", as Redis 7.0 does for
// every list.
type listObj struct {
	t *btree[string]
}

func newListObj() *listObj { return &listObj{t: newBtree[string]()} }

func (l *listObj) Type() string     { return "list" }
func (l *listObj) Encoding() string { return "quicklist" }
func (l *listObj) Len() int         { return l.t.Len() }
func (l *listObj) Clone() Object    { return &listObj{t: l.t.Clone()} }

func (l *listObj) MemoryUsage() int {
	n := l.t.Len()
	if n == 0 {
		return 48
	}
	sample, k := 0, 0
	l.t.Ascend(0, func(_ int, v string) bool {
		sample += len(v)
		k++
		return k < 5
	})
	return 48 + n*(18+sample/k)
}

func (l *listObj) Rewrite(key string, emit func(args ...[]byte)) {
	args := make([][]byte, 0, 2+rewriteBatch)
	args = append(args, []byte("RPUSH"), []byte(key))
	l.t.Ascend(0, func(_ int, v string) bool {
		args = append(args, sbytes(v))
		if len(args) == 2+rewriteBatch {
			emit(args...)
			args = args[:2]
		}
		return true
	})
	if len(args) > 2 {
		emit(args...)
	}
}

// List ends.
const (
	listHead = iota
	listTail
)

func (l *listObj) push(v string, where int) {
	if where == listHead {
		l.t.Insert(0, v)
	} else {
		l.t.Insert(l.t.Len(), v)
	}
}

func (l *listObj) pop(where int) string {
	if where == listHead {
		return l.t.Delete(0)
	}
	return l.t.Delete(l.t.Len() - 1)
}

// index resolves a Redis list index (negative from the tail).
func (l *listObj) index(i int64) (int, bool) {
	n := int64(l.t.Len())
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		return 0, false
	}
	return int(i), true
}

// parseWhere parses LEFT/RIGHT (LMOVE, LMPOP).
func parseWhere(b []byte) (int, bool) {
	switch {
	case eqFold(b, "left"):
		return listHead, true
	case eqFold(b, "right"):
		return listTail, true
	}
	return 0, false
}

func whereName(where int) string {
	if where == listHead {
		return "LEFT"
	}
	return "RIGHT"
}

// listPop pops up to count elements from the list at key (live entry e)
// and deletes the key when it becomes empty.
func listPop(tx *Tx, sh *shard, e entry, key []byte, where, count int) []string {
	l := mutable[*listObj](tx, sh, e)
	count = min(count, l.Len())
	out := make([]string, count)
	for i := range out {
		out[i] = l.pop(where)
	}
	tx.notify(notifyList, listPopEvent[where], key)
	if !tx.notifyDel(dropIfEmpty(tx, key, l), key) {
		tx.modified(sh, key)
	}
	return out
}

// listPushTo pushes v onto the list at key, creating it. The caller
// checked that key holds no other type.
func listPushTo(tx *Tx, key []byte, v string, where int) {
	l, e, sh, found, _ := lookupObject[*listObj](tx, key, false)
	if !found {
		l = newListObj()
		l.push(v, where)
		tx.putObject(key, l, false)
		tx.notify(notifyList, listPushEvent[where], key)
		return
	}
	l = mutable[*listObj](tx, sh, e)
	l.push(v, where)
	tx.modified(sh, key)
	tx.notify(notifyList, listPushEvent[where], key)
}

// listMove is LMOVE's core with both keys locked: it pops from src and
// pushes onto dst. It returns the element, whether src had one, and an
// error text (WRONGTYPE for dst).
func listMove(tx *Tx, src, dst []byte, from, to int) (string, bool, string) {
	l, e, sh, found, wrong := lookupObject[*listObj](tx, src, false)
	if wrong {
		return "", false, errWrongType
	}
	if !found {
		return "", false, ""
	}
	if string(src) != string(dst) {
		if _, _, _, _, dwrong := lookupObject[*listObj](tx, dst, false); dwrong {
			return "", false, errWrongType
		}
	}
	if string(src) == string(dst) {
		l = mutable[*listObj](tx, sh, e)
		v := l.pop(from)
		l.push(v, to)
		tx.modified(sh, src)
		tx.notify(notifyList, listPushEvent[to], src)
		tx.notify(notifyList, listPopEvent[from], src)
		return v, true, ""
	}
	// Pushed first, then popped: Redis' order of the events.
	l = mutable[*listObj](tx, sh, e)
	v := l.pop(from)
	listPushTo(tx, dst, v, to)
	tx.notify(notifyList, listPopEvent[from], src)
	if !tx.notifyDel(dropIfEmpty(tx, src, l), src) {
		tx.modified(sh, src)
	}
	return v, true, ""
}
