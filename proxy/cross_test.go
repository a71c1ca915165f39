package proxy

import (
	"database/sql"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestCrossKeyspaceCorpus runs each query through the proxy (product in commerce; customer
// and corder in customer) and on one server holding all three tables, and requires the
// same column names, types and rows (in order when the query orders them).
func TestCrossKeyspaceCorpus(t *testing.T) {
	e := startEnv(t)
	ref := e.commerce.Primary
	ref.Exec(t, "CREATE DATABASE ref",
		"CREATE TABLE ref.product LIKE commerce.product",
		"CREATE TABLE ref.customer (customer_id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARBINARY(128))",
		"CREATE TABLE ref.corder (order_id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT, sku VARBINARY(128), price BIGINT)")
	var products, customers, orders []string
	for i := 1; i <= 20; i++ {
		desc := fmt.Sprintf("'item %d'", i)
		if i%7 == 0 {
			desc = "NULL"
		}
		products = append(products, fmt.Sprintf("('SKU-%02d', %s, %d)", i, desc, 10*i))
	}
	for i := 1; i <= 10; i++ {
		customers = append(customers, fmt.Sprintf("(%d, 'c%d@domain.com')", i, i))
	}
	for i := 1; i <= 60; i++ {
		price := fmt.Sprint(i * 3)
		if i%11 == 0 {
			price = "NULL"
		}
		orders = append(orders, fmt.Sprintf("(%d, %d, 'SKU-%02d', %s)", i, 1+i%12, 1+i%17, price))
	}
	for _, db := range []struct {
		exec func(testing.TB, ...string)
		pdb  string
		cdb  string
	}{{ref.Exec, "ref", "ref"}, {e.commerce.Primary.Exec, "commerce", ""}, {e.customer.Primary.Exec, "", "customer_db"}} {
		if db.pdb != "" {
			db.exec(t, "DELETE FROM "+db.pdb+".product", "INSERT INTO "+db.pdb+".product VALUES "+strings.Join(products, ","))
		}
		if db.cdb != "" {
			db.exec(t, "INSERT INTO "+db.cdb+".customer VALUES "+strings.Join(customers, ","),
				"INSERT INTO "+db.cdb+".corder VALUES "+strings.Join(orders, ","))
		}
	}
	proxyDB := e.open(t, "app", "commerce")
	refDB := ref.Open(t, "ref")

	corpus := []string{
		"select o.order_id, o.price, p.description from corder o join product p on o.sku = p.sku order by o.order_id",
		"select o.order_id, p.sku from corder o join product p on o.sku = p.sku where o.customer_id = 3 and p.price > 50 order by o.order_id",
		"select p.sku, o.order_id from product p left join corder o on o.sku = p.sku order by p.sku, o.order_id",
		"select p.sku from product p left join corder o on o.sku = p.sku where o.order_id is null order by p.sku",
		"select c.email, count(*), sum(o.price), min(o.price), max(o.price), avg(o.price) from customer c join corder o on o.customer_id = c.customer_id join product p on p.sku = o.sku group by c.email order by c.email",
		"select distinct p.price from product p join corder o on o.sku = p.sku order by p.price desc limit 5 offset 2",
		"select sku, description from product where sku in (select sku from corder where price > 100) order by sku",
		"select c.customer_id from customer c where exists (select 1 from corder o join product p on p.sku = o.sku where o.customer_id = c.customer_id and p.price > 150) order by 1",
		"select sku from product where price < 50 union select sku from corder where order_id < 5 order by sku",
		"select count(*) from corder o join product p on o.sku = p.sku",
		"select p.description, o.price * 2 as doubled from product p join corder o on p.sku = o.sku where p.description is null order by o.order_id",
	}
	for _, q := range corpus {
		gotCols, gotTypes, got := runQuery(t, proxyDB, q)
		wantCols, wantTypes, want := runQuery(t, refDB, q)
		if !strings.Contains(strings.ToLower(q), "order by") {
			sortRows(got)
			sortRows(want)
		}
		if !reflect.DeepEqual(gotCols, wantCols) || !reflect.DeepEqual(gotTypes, wantTypes) {
			t.Errorf("%s:\n columns %v %v\n want    %v %v", q, gotCols, gotTypes, wantCols, wantTypes)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got  %v\n want %v", q, got, want)
		}
		if len(want) == 0 {
			t.Errorf("%s: the reference returned no rows: the comparison proves little", q)
		}
	}

	// INSERT ... SELECT across keyspaces writes the same rows as on one server.
	for _, db := range []*sql.DB{proxyDB, refDB} {
		if _, err := db.Exec("insert into corder(customer_id, sku, price) select 99, sku, price from product where price >= 150"); err != nil {
			t.Fatal(err)
		}
	}
	_, _, got := runQuery(t, proxyDB, "select sku, price from corder where customer_id = 99 order by sku")
	_, _, want := runQuery(t, refDB, "select sku, price from corder where customer_id = 99 order by sku")
	if !reflect.DeepEqual(got, want) || len(want) == 0 {
		t.Errorf("insert ... select: got %v, want %v", got, want)
	}

	// The plan is visible, and a statement moving too many rows is refused clearly.
	plan := queryStrings(t, proxyDB, "vexplain plan select * from corder o join product p on o.sku = p.sku where o.customer_id = 3")
	if len(plan) != 2 || !strings.HasPrefix(plan[0][0], "Pull corder") || !strings.Contains(plan[0][4], "o.customer_id = 3") {
		t.Errorf("vexplain plan = %v", plan)
	}
	e.proxy.cfg.MaxRowsInMemory = 5
	if _, err := proxyDB.Exec("select * from corder join product on corder.sku = product.sku"); mysqlCode(err) != 1172 || !strings.Contains(err.Error(), "max_rows_in_memory") {
		t.Errorf("row limit: %v", err)
	}
	e.proxy.cfg.MaxRowsInMemory = 100000
	// Unsupported constructs are named, never answered wrongly.
	if _, err := proxyDB.Exec("update corder join product on corder.sku = product.sku set corder.price = product.price"); mysqlCode(err) != 1235 || !strings.Contains(err.Error(), "UPDATE") {
		t.Errorf("cross-keyspace update: %v", err)
	}
	// A pull larger than max_heap_table_size moves its MEMORY copy to InnoDB and still answers.
	small := e.open(t, "app", "commerce")
	small.SetMaxOpenConns(1)
	if _, err := small.Exec("set max_heap_table_size = 16384"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := small.Exec("insert into customer.corder(customer_id, sku, price) select customer_id, sku, price from customer.corder"); err != nil {
			t.Fatal(err)
		}
	}
	_, _, big := runQuery(t, small, "select count(*), sum(p.price) from corder o join product p on o.sku = p.sku")
	if big[0][0] == "0" {
		t.Fatalf("big pull: %v", big)
	}
	// Every order's sku is a product's: the join counts every order.
	ordersNow := e.customer.Primary.QueryString(t, "select count(*) from customer_db.corder")
	if big[0][0] != ordersNow {
		t.Fatalf("big pull counted %s joined rows, one server %s", big[0][0], ordersNow)
	}

	// The temporary tables are gone: the anchor's own tables are visible again.
	if got := queryStrings(t, proxyDB, "select count(*) from information_schema.tables where table_schema = 'commerce' and table_name = 'corder'"); got[0][0] != "0" {
		t.Errorf("leftover table: %v", got)
	}
}

func runQuery(t *testing.T, db *sql.DB, q string) ([]string, []string, [][]string) {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return scanRows(t, rows, q)
}

// scanRows reads column names, database types and rows as strings ("NULL" for NULL).
func scanRows(t *testing.T, rows *sql.Rows, q string) ([]string, []string, [][]string) {
	t.Helper()
	defer rows.Close()
	cols, _ := rows.Columns()
	cts, _ := rows.ColumnTypes()
	var types []string
	for _, ct := range cts {
		types = append(types, ct.DatabaseTypeName())
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
			if !v.Valid {
				row[i] = "NULL"
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return cols, types, out
}

func sortRows(r [][]string) {
	sort.Slice(r, func(i, j int) bool { return strings.Join(r[i], "\x00") < strings.Join(r[j], "\x00") })
}
