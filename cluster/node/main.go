// siamsql-node: one dqlite node whose SQLite connections all have siamsql.
//
//	siamsql-node --id 1 --address 127.0.0.1:9001 --dir /tmp/siam1 --extension ./siamsql.so
//	siamsql-node --id 2 --address 127.0.0.1:9002 --dir /tmp/siam2 --extension ./siamsql.so --join 127.0.0.1:9001
//
// Node 1 forms the cluster (dqlite bootstraps the node whose id is 1); every
// other node joins it through --join, once: a node that restarts finds
// itself in the cluster's membership and rejoins from its own directory.
//
// How it works: the extension is registered with sqlite3_auto_extension
// (autoext.c) before the dqlite node starts, so every connection dqlite opens
// for a client has siamsql's functions.  A library that cannot be loaded
// stops the node before it listens.
package main

/*
#cgo LDFLAGS: -lsqlite3 -ldl
#include <stdlib.h>
#include "autoext.h"
*/
import "C"

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unsafe"

	dqlite "github.com/canonical/go-dqlite"
	"github.com/canonical/go-dqlite/client"

	"siamsql/cluster/dqconn"
)

type options struct {
	id        uint64
	address   string
	dir       string
	join      []string
	extension string
	latency   time.Duration
}

func parseOptions() (*options, error) {
	o := &options{}
	var join string
	flag.Uint64Var(&o.id, "id", 0, "this node's id (1 forms the cluster; others join it)")
	flag.StringVar(&o.address, "address", "", "address to serve on and to be known by, HOST:PORT")
	flag.StringVar(&o.dir, "dir", "", "directory for this node's raft log and snapshots")
	flag.StringVar(&join, "join", "", "address(es) of cluster members to join through, comma-separated")
	flag.StringVar(&o.extension, "extension", "siamsql", "the siamsql library: a path, or a name dlopen() finds")
	flag.DurationVar(&o.latency, "latency", 500*time.Millisecond,
		"one-way network latency dqlite assumes: heartbeats every 1.5x, elections after 15x,\n"+
			"which is also the longest a statement may run (the leader serves nothing meanwhile)")
	flag.Parse()
	if flag.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", flag.Arg(0))
	}
	if join != "" {
		o.join = strings.Split(join, ",")
	}
	switch {
	case o.id == 0:
		return nil, errors.New("--id is required and must be positive")
	case o.address == "":
		return nil, errors.New("--address is required")
	case o.dir == "":
		return nil, errors.New("--dir is required")
	case o.id == 1 && len(o.join) > 0:
		return nil, errors.New("node 1 forms the cluster and joins none: leave out --join")
	case o.id != 1 && len(o.join) == 0:
		return nil, errors.New("only node 1 forms a cluster: give the others --join ADDRESS")
	}
	return o, nil
}

// registerSiamsql makes every SQLite connection of this process load siamsql.
func registerSiamsql(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg [512]C.char
	if C.siamsql_register(cpath, &msg[0], C.size_t(len(msg))) != 0 {
		return errors.New(C.GoString(&msg[0]))
	}
	return nil
}

// errOtherAddress: the id is taken by a member at another address; trying
// again cannot help.
var errOtherAddress = errors.New("this id is already a member at another address")

// join makes this node a voter of the cluster, retrying while the cluster
// is busy (dqlite takes one membership change at a time, so nodes started
// together take turns).
func join(ctx context.Context, o *options) error {
	for {
		err := tryJoin(ctx, o)
		if err == nil || errors.Is(err, errOtherAddress) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// tryJoin adds this node as a voter, or finishes an earlier try (added but
// not yet a voter); a restarted member has nothing to do.
func tryJoin(ctx context.Context, o *options) error {
	leader, err := dqconn.Leader(ctx, o.join)
	if err != nil {
		return fmt.Errorf("no leader among %s: %w", strings.Join(o.join, ","), err)
	}
	defer leader.Close()
	members, err := leader.Cluster(ctx)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.ID != o.id {
			continue
		}
		if m.Address != o.address {
			return fmt.Errorf("%w: node %d has %s", errOtherAddress, o.id, m.Address)
		}
		if m.Role == client.Voter {
			return nil
		}
		return leader.Assign(ctx, o.id, client.Voter)
	}
	return leader.Add(ctx, client.NodeInfo{ID: o.id, Address: o.address, Role: client.Voter})
}

func run(o *options) error {
	if err := registerSiamsql(o.extension); err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	node, err := dqlite.New(o.id, o.address, o.dir,
		dqlite.WithBindAddress(o.address), dqlite.WithNetworkLatency(o.latency))
	if err != nil {
		return fmt.Errorf("node %d: %w", o.id, err)
	}
	if err := node.Start(); err != nil {
		return fmt.Errorf("node %d on %s: %w", o.id, o.address, err)
	}
	defer node.Close()
	if len(o.join) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := join(ctx, o)
		cancel()
		if err != nil {
			return fmt.Errorf("node %d could not join: %w", o.id, err)
		}
	}
	fmt.Printf("siamsql-node %d serving on %s\n", o.id, o.address)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	return nil
}

func main() {
	o, err := parseOptions()
	if err == nil {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "siamsql-node: %v\n", err)
		os.Exit(1)
	}
}
