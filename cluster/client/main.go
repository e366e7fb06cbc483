// siamsql-client: runs SQL on a siamsql dqlite cluster, on whichever node leads.
//
//	siamsql-client -s 127.0.0.1:9001,127.0.0.1:9002 mydb "SELECT siam_similarity('default', 'a', 'b')"
//	siamsql-client -s 127.0.0.1:9001 -f model.sql mydb     # a script (every statement), in one request
//	siamsql-client -s 127.0.0.1:9001 --leader               # prints the leader: ID ADDRESS
//	siamsql-client -s 127.0.0.1:9001 --cluster              # prints every member: ID ADDRESS ROLE
//	siamsql-client -s 127.0.0.1:9001 --transfer 2           # hands leadership to node 2
//
// A statement's rows are printed one a line, columns separated by '|', NULL
// as nothing, a BLOB in hexadecimal, a REAL in the shortest form that reads
// back to the same double.  A statement that is not a SELECT (or VALUES) is
// executed, not queried: dqlite replicates what an execution writes.
//
// How it works: go-dqlite's driver finds the leader among the given nodes and
// sends the statement there (dqconn.Open: the driver directly, so nothing is
// run twice).  A write whose leader died during its commit may have committed
// all the same: this client says so and leaves the decision to the caller.
package main

import (
	"context"
	"database/sql/driver"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	dqlitedriver "github.com/canonical/go-dqlite/driver"

	"siamsql/cluster/dqconn"
)

type options struct {
	servers  []string
	file     string
	leader   bool
	cluster  bool
	transfer uint64
	timeout  time.Duration
	database string
	sql      string
}

func parseOptions() (*options, error) {
	o := &options{}
	var servers string
	flag.StringVar(&servers, "s", "", "addresses of cluster nodes, comma-separated")
	flag.StringVar(&o.file, "f", "", "run every statement of this file ('-': standard input)")
	flag.BoolVar(&o.leader, "leader", false, "print the leader's id and address")
	flag.BoolVar(&o.cluster, "cluster", false, "print every member's id, address and role")
	flag.Uint64Var(&o.transfer, "transfer", 0, "hand leadership to the node with this id")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up after this long (finding a leader included)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(),
			"usage: siamsql-client -s ADDR[,ADDR...] [-f FILE] DATABASE [SQL]\n"+
				"       siamsql-client -s ADDR[,ADDR...] --leader | --cluster | --transfer ID\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if servers == "" {
		return nil, errors.New("-s ADDR[,ADDR...] is required")
	}
	o.servers = strings.Split(servers, ",")
	if o.admin() {
		if flag.NArg() > 0 {
			return nil, errors.New("--leader, --cluster and --transfer take no database or SQL")
		}
		return o, nil
	}
	switch {
	case flag.NArg() == 2 && o.file == "":
		o.database, o.sql = flag.Arg(0), flag.Arg(1)
	case flag.NArg() == 1 && o.file != "":
		o.database = flag.Arg(0)
	default:
		return nil, errors.New("give a DATABASE and either one SQL statement or -f FILE")
	}
	return o, nil
}

// admin: a question to the cluster, not SQL.
func (o *options) admin() bool { return o.leader || o.cluster || o.transfer != 0 }

// isQuery: the statement is sent as a query (its rows printed) only when it
// can only read; dqlite replicates the writes of executed statements.
func isQuery(sql string) bool {
	word := strings.ToUpper(strings.Fields(sql + " x")[0])
	return word == "SELECT" || word == "VALUES"
}

func format(v driver.Value) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return strings.ToUpper(fmt.Sprintf("%x", x))
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	default:
		return fmt.Sprint(x)
	}
}

func printRows(w io.Writer, rows driver.Rows) error {
	values := make([]driver.Value, len(rows.Columns()))
	for {
		err := rows.Next(values)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		cells := make([]string, len(values))
		for i, v := range values {
			cells[i] = format(v)
		}
		fmt.Fprintln(w, strings.Join(cells, "|"))
	}
}

func runSQL(ctx context.Context, o *options) error {
	sql := o.sql
	if o.file != "" {
		text, err := readFile(o.file)
		if err != nil {
			return err
		}
		sql = text
	}
	conn, err := dqconn.Open(ctx, o.servers, o.database)
	if err != nil {
		return err
	}
	defer conn.Close()
	if o.file == "" && isQuery(sql) {
		err := query(ctx, conn, sql)
		var failed dqlitedriver.Error
		if errors.As(err, &failed) {
			err = errorText(ctx, conn, sql)
		}
		return explain(err, false)
	}
	_, err = conn.ExecContext(ctx, sql, nil)
	var failed dqlitedriver.Error
	if errors.As(err, &failed) && failed.Code == sqliteRow {
		return errors.New("the statement returned rows: only one that starts with SELECT or VALUES is " +
			"sent as a query (dqlite replicates only what an executed statement writes)")
	}
	return explain(err, true)
}

// sqliteRow is SQLITE_ROW, what an execution that yields a row reports.
const sqliteRow = 100

func query(ctx context.Context, conn *dqlitedriver.Conn, sql string) error {
	rows, err := conn.QueryContext(ctx, sql, nil)
	if err != nil {
		return err
	}
	defer rows.Close()
	return printRows(os.Stdout, rows)
}

// errorText finds out why a query failed.  dqlite 1.11 loses the text of an
// error raised while a query steps (it answers with the first column's name
// and the column count as code); the same statement executed reports it.
// Only queries get here, and they only read.
func errorText(ctx context.Context, conn *dqlitedriver.Conn, sql string) error {
	_, err := conn.ExecContext(ctx, sql, nil)
	var failed dqlitedriver.Error
	if errors.As(err, &failed) && failed.Code != sqliteRow {
		return err
	}
	if err != nil && !errors.As(err, &failed) {
		return err
	}
	return errors.New("the query failed past its first row, and dqlite did not say why")
}

func readFile(path string) (string, error) {
	if path == "-" {
		b, err := io.ReadAll(os.Stdin)
		return string(b), err
	}
	b, err := os.ReadFile(path)
	return string(b), err
}

// explain says what a lost connection means: a write may have committed
// (its leader can die after the cluster took it and before it answered).
// dqlite's own errors (a constraint, siamsql's messages) pass unchanged.
func explain(err error, wrote bool) error {
	var failed dqlitedriver.Error
	if err == nil || errors.As(err, &failed) {
		return err
	}
	if wrote {
		return fmt.Errorf("lost the leader during the statement (%v): it may or may not have committed; "+
			"check before running it again", err)
	}
	return fmt.Errorf("lost the leader during the statement: %w", err)
}

func adminCommand(ctx context.Context, o *options) error {
	cli, err := dqconn.Leader(ctx, o.servers)
	if err != nil {
		return err
	}
	defer cli.Close()
	if o.transfer != 0 {
		return cli.Transfer(ctx, o.transfer)
	}
	if o.cluster {
		members, err := cli.Cluster(ctx)
		if err != nil {
			return err
		}
		for _, m := range members {
			fmt.Printf("%d %s %s\n", m.ID, m.Address, m.Role)
		}
		return nil
	}
	leader, err := cli.Leader(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%d %s\n", leader.ID, leader.Address)
	return nil
}

func main() {
	o, err := parseOptions()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		if o.admin() {
			err = adminCommand(ctx, o)
		} else {
			err = runSQL(ctx, o)
		}
		cancel()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "siamsql-client: %v\n", err)
		os.Exit(1)
	}
}
