package watchdog

import (
	"context"
	"errors"
	"fmt"

	"github.com/shardis/shardis/conf"
)

// ErrSessionChanged answers a ZooKeeper action decided in a session that
// is no longer the current one: it is not run.
var ErrSessionChanged = errors.New("ZooKeeper session changed since the action was decided")

// zkDriver runs the core's ZooKeeper actions one at a time, in order. Its
// goroutine (run) is owned by the Watchdog and ends with ctx.
type zkDriver struct {
	z       *conf.ZK
	shard   string
	reqPath string
	ops     chan Action
	results func(Event)
}

func (d *zkDriver) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-d.ops:
			d.results(d.exec(a))
		}
	}
}

func (d *zkDriver) exec(a Action) Event {
	if a.Session != 0 && (a.Session != d.z.SessionID() || !d.z.Connected()) && a.Kind != ActReadShard {
		err := fmt.Errorf("%w (0x%x)", ErrSessionChanged, a.Session)
		if a.Kind == ActRegister {
			return Registered{ID: a.ID, Err: err}
		}
		return ZKDone{ID: a.ID, Err: err}
	}
	switch a.Kind {
	case ActRegister:
		mn, err := d.z.CreateMember(d.shard, a.Data)
		return Registered{ID: a.ID, Member: MemberRef{Path: mn.Path, Name: mn.Name, Seq: mn.Seq, Version: mn.Version}, Err: err}
	case ActPublish:
		v, err := d.z.UpdateMember(a.Path, a.Data, a.Version)
		return ZKDone{ID: a.ID, Version: v, Err: err}
	case ActDeleteMember:
		return ZKDone{ID: a.ID, Err: d.z.DeleteMember(a.Path, a.Version)}
	case ActReadShard:
		if err := d.z.Sync(d.shard); err != nil && !errors.Is(err, conf.ErrNoNode) {
			return Membership{ID: a.ID, Err: err}
		}
		s, err := conf.ReadShard(d.z, d.shard)
		if err != nil {
			return Membership{ID: a.ID, Err: err}
		}
		return Membership{ID: a.ID, Members: membersOf(s)}
	case ActHandover:
		err := d.z.Multi(
			conf.SetOp(a.Path, a.OldData.Marshal(), a.Version),
			conf.SetOp(a.MyPath, a.Data.Marshal(), a.MyVersion),
			conf.DeleteOp(d.reqPath, a.RequestVersion))
		return ZKDone{ID: a.ID, Err: err}
	case ActUpdateRequest:
		st, err := d.z.Set(d.reqPath, a.Request.Marshal(), a.RequestVersion)
		return ZKDone{ID: a.ID, Version: st.Version, Err: err}
	case ActDeleteRequest:
		return ZKDone{ID: a.ID, Err: d.z.Delete(d.reqPath, a.RequestVersion)}
	}
	return ZKDone{ID: a.ID, Err: fmt.Errorf("not a ZooKeeper action: %s", a)}
}

// membersOf converts conf's shard snapshot for the core.
func membersOf(s *conf.Shard) []Member {
	out := make([]Member, 0, len(s.Members))
	for _, m := range s.Members {
		out = append(out, Member{
			Name: m.Name, Path: m.Path, Seq: m.Seq, Addr: m.Addr,
			Role: m.Data.Role, Epoch: m.Data.Epoch, Offset: m.Data.Offset,
			Version: m.Version, Owner: m.Owner,
			Valid: m.Err == nil && m.Seq >= 0 && m.Addr != "",
		})
	}
	return out
}

// shardUpdate converts a ShardWatcher update. A shard whose data (its
// slot ranges) is refused still has members that must fail over: only a
// missing shard znode is an error for the core.
func shardUpdate(u conf.ShardUpdate) Membership {
	if errors.Is(u.Err, conf.ErrNoNode) {
		return Membership{Err: u.Err}
	}
	return Membership{Members: membersOf(u.Shard)}
}
