package admin

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shardis/shardis/hashring"
)

// rangesText is ranges for people: "0-2047 (2048 slots)" or "no slots".
func rangesText(r []hashring.Range) string {
	if len(r) == 0 {
		return "no slots"
	}
	return fmt.Sprintf("%s (%d slots)", hashring.FormatRanges(r), slotCount(r))
}

// writeStatus prints a Status as a table: one line per member, the shard's
// columns on its first line.
func writeStatus(w io.Writer, st *Status) {
	settings := fmt.Sprintf("slots %d", st.Slots)
	if st.Hash != "" {
		settings += ", hash " + st.Hash
	}
	if st.HashTag != nil {
		settings += fmt.Sprintf(", hash_tag %q", *st.HashTag)
	}
	fmt.Fprintf(w, "pool %s (%s): %s\n\n", st.Pool, st.Path, settings)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SHARD\tRANGES\tSLOTS\tEPOCH\tROLE\tADDR\tOFFSET\tLAG\tSTATE")
	for _, s := range st.Shards {
		ranges := s.Ranges
		if ranges == "" {
			ranges = "-"
		}
		if s.Migrating != nil {
			ranges += fmt.Sprintf(" (migrating %s to %s)", s.Migrating.Slots, s.Migrating.To)
		}
		epoch := "-"
		if s.Epoch >= 0 {
			epoch = strconv.FormatInt(s.Epoch, 10)
		}
		head := fmt.Sprintf("%s\t%s\t%d\t%s", s.Name, ranges, s.SlotCount, epoch)
		blank := "\t\t\t"
		first := true
		line := func(role string, n *NodeStatus) {
			h := blank
			if first {
				h, first = head, false
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h, role, n.Addr, offsetText(n), lagText(n), stateText(n, st.Probed))
		}
		if s.Master != nil {
			line("master", s.Master)
		} else {
			fmt.Fprintf(tw, "%s\tNO MASTER\t-\t-\t-\t-\n", head)
			first = false
		}
		for i := range s.Replicas {
			line("replica", &s.Replicas[i])
		}
		for i := range s.Candidates {
			line(s.Candidates[i].Role, &s.Candidates[i])
		}
		if s.Error != "" {
			fmt.Fprintf(tw, "%s\tERROR\t%s\t\t\t\n", blank, s.Error)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nproxies (%d):\n", len(st.Proxies))
	for _, p := range st.Proxies {
		line := "  " + p.Addr
		if p.Version != "" {
			line += " version " + p.Version
		}
		if !p.Started.IsZero() {
			line += fmt.Sprintf(" up %s", time.Since(p.Started).Round(time.Second))
		}
		if p.Error != "" {
			line += " (" + p.Error + ")"
		}
		fmt.Fprintln(w, line)
	}
	if !st.Valid {
		fmt.Fprintf(w, "\nINVALID TOPOLOGY: %s\n", st.Error)
	}
	if len(st.Masterless) > 0 {
		fmt.Fprintf(w, "\nshards without a master: %s\n", strings.Join(st.Masterless, ", "))
	}
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// offsetText is the backend's offset, or the published one in brackets
// when the backend was not read.
func offsetText(n *NodeStatus) string {
	if n.Backend != nil {
		return strconv.FormatInt(n.Backend.Offset, 10)
	}
	return "(" + strconv.FormatInt(n.PublishedOffset, 10) + ")"
}

func lagText(n *NodeStatus) string {
	if n.Lag == nil {
		return "-"
	}
	return strconv.FormatInt(*n.Lag, 10)
}

func stateText(n *NodeStatus, probed bool) string {
	switch {
	case n.Error != "":
		return "ERROR: " + n.Error
	case !probed:
		return "not probed"
	case n.Backend == nil:
		return "-"
	case n.Backend.Role == "slave":
		s := "replica of " + n.Backend.MasterAddr()
		if n.Backend.LinkStatus != "" {
			s += ", link " + n.Backend.LinkStatus
		}
		return s
	default:
		return fmt.Sprintf("%s, %d replicas", n.Backend.Role, n.Backend.ConnectedReplicas)
	}
}

func writeCheck(w io.Writer, r *CheckReport) {
	if r.Healthy {
		fmt.Fprintf(w, "pool %s: healthy\n", r.Pool)
	} else {
		fmt.Fprintf(w, "pool %s: %d problem(s)\n", r.Pool, len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  [%s] %s\n", p.Kind, p.Message)
		}
	}
	if !r.Probed {
		fmt.Fprintln(w, "  (backends not probed)")
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}
