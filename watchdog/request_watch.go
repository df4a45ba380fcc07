package watchdog

import (
	"context"
	"errors"
	"log/slog"

	"github.com/shardis/shardis/conf"
)

// requestWatcher follows the shard's failover request znode with conf's
// NodeWatcher (one data watch; a deletion followed by a re-creation is a
// change even with the same data, so no poll is needed) and sends each
// new state to the loop. The watcher re-reads the znode every
// conf.DefaultZooKeeperRefreshInterval in case a watch is lost. Its
// goroutine (run) is owned by the Watchdog and ends with ctx.
type requestWatcher struct {
	z       *conf.ZK
	path    string
	results func(Event)
	log     *slog.Logger
}

func (r *requestWatcher) run(ctx context.Context) error {
	w, err := conf.NewNodeWatcher(r.z, conf.NodeWatcherConfig{Path: r.path, Logger: r.log})
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }() // ends with ctx
	var last RequestUpdate
	var have bool
	for {
		select {
		case <-ctx.Done():
			<-done
			return ctx.Err()
		case err := <-done:
			return err
		case n := <-w.Updates():
			u := requestUpdate(n)
			if have && u.Exists == last.Exists && u.Version == last.Version && u.Req == last.Req && errText(u.Err) == errText(last.Err) {
				continue // e.g. the same request deleted and created again: nothing new for the core
			}
			if errors.Is(u.Err, ErrBadRequest) {
				r.log.Warn("ignoring a bad failover request znode", "path", r.path, "err", u.Err)
			}
			last, have = u, true
			r.results(u)
		}
	}
}

// requestUpdate converts the znode's state for the core.
func requestUpdate(n conf.NodeUpdate) RequestUpdate {
	if !n.Exists {
		return RequestUpdate{}
	}
	req, err := conf.ParseFailoverRequest(n.Data)
	if err != nil {
		return RequestUpdate{Exists: true, Version: n.Version, Err: err}
	}
	return RequestUpdate{Exists: true, Version: n.Version, Req: req}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
