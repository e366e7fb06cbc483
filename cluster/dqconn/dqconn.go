// Package dqconn: connections to a dqlite cluster given by addresses, shared
// by siamsql-node (joining), siamsql-client and siamsql-cachecheck.
package dqconn

import (
	"context"

	"github.com/canonical/go-dqlite/client"
	"github.com/canonical/go-dqlite/driver"
)

// Store lists the given nodes; go-dqlite asks them who leads.
func Store(ctx context.Context, addresses []string) (client.NodeStore, error) {
	store := client.NewInmemNodeStore()
	infos := make([]client.NodeInfo, len(addresses))
	for i, address := range addresses {
		infos[i].Address = address
	}
	return store, store.Set(ctx, infos)
}

// Leader is a protocol client connected to the current leader (membership,
// leadership), retrying until ctx ends.
func Leader(ctx context.Context, addresses []string) (*client.Client, error) {
	store, err := Store(ctx, addresses)
	if err != nil {
		return nil, err
	}
	return client.FindLeader(ctx, store)
}

// Open opens database on the current leader.  The driver's connection is
// used as it is, not through database/sql, which runs a statement again when
// the connection is lost midway (a write whose leader died during its
// commit may have committed all the same).
func Open(ctx context.Context, addresses []string, database string) (*driver.Conn, error) {
	store, err := Store(ctx, addresses)
	if err != nil {
		return nil, err
	}
	drv, err := driver.New(store)
	if err != nil {
		return nil, err
	}
	connector, err := drv.OpenConnector(database)
	if err != nil {
		return nil, err
	}
	conn, err := connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return conn.(*driver.Conn), nil
}
