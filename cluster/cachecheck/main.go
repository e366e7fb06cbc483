// siamsql-cachecheck: do a connection's caches on the leader follow another
// connection's commits?  Run by cluster/test.sh against a cluster that holds
// the default model and the table emb(id, embedding).
//
//	siamsql-cachecheck -s 127.0.0.1:9001,127.0.0.1:9002 DATABASE
//
// Two connections, A and B, stay open on the leader.  A runs siam_nearest
// over emb (which keeps the vectors in memory while SQLITE_FCNTL_DATA_VERSION
// is unchanged) and siam_embed (which keeps the model while its revision is);
// B inserts a vector and updates a weight; A's next statements must see both.
// Prints one "ok - ..." or "FAIL - ..." line a check; exits 1 on a failure.
// The siamsql-client runs one statement a connection, so it cannot show this.
package main

import (
	"context"
	"database/sql/driver"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	dqlitedriver "github.com/canonical/go-dqlite/driver"

	"siamsql/cluster/dqconn"
)

// one returns the first column of the first row, as text.
func one(ctx context.Context, conn *dqlitedriver.Conn, sql string) (string, error) {
	rows, err := conn.QueryContext(ctx, sql, nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	values := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(values); err != nil {
		if err == io.EOF {
			return "", errors.New("no row")
		}
		return "", err
	}
	return fmt.Sprint(values[0]), nil
}

type checker struct {
	ctx    context.Context
	failed bool
}

// must stops the program on an error that leaves nothing to check.
func (c *checker) must(what string, err error) {
	if err != nil {
		fmt.Printf("FAIL - %s: %v\n", what, err)
		os.Exit(1)
	}
}

func (c *checker) check(what string, ok bool, detail string) {
	if ok {
		fmt.Printf("ok - %s\n", what)
		return
	}
	fmt.Printf("FAIL - %s (%s)\n", what, detail)
	c.failed = true
}

const (
	countNearest  = "SELECT count(*) FROM siam_nearest('emb', 'embedding', (SELECT embedding FROM emb WHERE id = 1), 1000000)"
	embedProbe    = "SELECT hex(siam_embed('default', 'cache check probe'))"
	zeroLayerNorm = "UPDATE siam_tensor SET data = siam_pack(zeroblob(length(siam_unpack(data))))" +
		" WHERE model = 'default' AND name = 'embeddings.LayerNorm.bias'"
)

func run(c *checker, a, b *dqlitedriver.Conn) {
	ctx := c.ctx
	before, err := one(ctx, a, countNearest)
	c.must("siam_nearest on connection A", err)
	again, err := one(ctx, a, countNearest)
	c.must("siam_nearest again on A", err)
	c.check("siam_nearest on A answers the same twice ("+before+" rows)", again == before, again)
	_, err = b.ExecContext(ctx, "INSERT INTO emb(id, embedding) SELECT max(id) + 1, embedding FROM emb", nil)
	c.must("insert on connection B", err)
	after, err := one(ctx, a, countNearest)
	c.must("siam_nearest on A after B's insert", err)
	var n int
	fmt.Sscan(before, &n)
	c.check("A's next siam_nearest sees B's committed row (data version changed)",
		after == fmt.Sprint(n+1), "got "+after+", expected "+fmt.Sprint(n+1))
	_, err = b.ExecContext(ctx, "DELETE FROM emb WHERE id = (SELECT max(id) FROM emb)", nil)
	c.must("delete on connection B", err)

	oldEmb, err := one(ctx, a, embedProbe)
	c.must("siam_embed on A", err)
	_, err = b.ExecContext(ctx, zeroLayerNorm, nil)
	c.must("weight update on connection B", err)
	newEmbA, err := one(ctx, a, embedProbe)
	c.must("siam_embed on A after B's update", err)
	newEmbB, err := one(ctx, b, embedProbe)
	c.must("siam_embed on B", err)
	c.check("A's next siam_embed runs the model B updated", newEmbA != oldEmb && newEmbA == newEmbB,
		"A before "+short(oldEmb)+", A after "+short(newEmbA)+", B "+short(newEmbB))
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}

func main() {
	servers := flag.String("s", "", "addresses of cluster nodes, comma-separated")
	flag.Parse()
	if *servers == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: siamsql-cachecheck -s ADDR[,ADDR...] DATABASE")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := &checker{ctx: ctx}
	addrs := strings.Split(*servers, ",")
	a, err := dqconn.Open(ctx, addrs, flag.Arg(0))
	c.must("connection A", err)
	defer a.Close()
	b, err := dqconn.Open(ctx, addrs, flag.Arg(0))
	c.must("connection B", err)
	defer b.Close()
	run(c, a, b)
	if c.failed {
		os.Exit(1)
	}
}
