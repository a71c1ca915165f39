package migration

import (
	"reflect"
	"testing"
)

func TestDDLTables(t *testing.T) {
	cases := map[string][]ddlTable{
		"ALTER TABLE customer ADD COLUMN x INT":              {{"commerce", "customer"}},
		"alter online table `commerce`.`customer` add y int": {{"commerce", "customer"}},
		"DROP TABLE IF EXISTS a, other.b":                    {{"commerce", "a"}, {"other", "b"}},
		"RENAME TABLE customer TO customer_old, x TO y":      {{"commerce", "customer"}, {"commerce", "customer_old"}, {"commerce", "x"}, {"commerce", "y"}},
		"TRUNCATE TABLE corder":                              {{"commerce", "corder"}},
		"truncate corder":                                    {{"commerce", "corder"}},
		"CREATE INDEX i ON customer (email)":                 {{"commerce", "customer"}},
		"DROP INDEX i ON corder":                             {{"commerce", "corder"}},
		"/* c */ CREATE TABLE IF NOT EXISTS n (id int)":      {{"commerce", "n"}},
		"CREATE DATABASE x":                                  nil,
		"CREATE VIEW v AS SELECT 1":                          nil,
		"INSERT INTO customer VALUES (1)":                    nil,
		"DROP TEMPORARY TABLE IF EXISTS `tmp`":               {{"commerce", "tmp"}},
		"CREATE OR REPLACE TABLE customer2 LIKE customer":    {{"commerce", "customer2"}},
	}
	for q, want := range cases {
		if got := ddlTables(q, "commerce"); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v want %v", q, got, want)
		}
	}
}

func TestLiterals(t *testing.T) {
	u8 := &column{DataType: "tinyint", Unsigned: true, Class: classNumeric, Bits: 8}
	vc := &column{DataType: "varchar", Charset: "utf8mb4", Collation: "utf8mb4_general_ci", Class: classBytes}
	dt := &column{DataType: "datetime", Class: classTemporal}
	dec := &column{DataType: "decimal", Class: classNumeric}
	fl := &column{DataType: "float", Class: classNumeric}
	cases := []struct {
		c    *column
		v    any
		want string
	}{
		{u8, int8(-1), "255"},
		{u8, nil, "NULL"},
		{vc, "ab'c", "X'616227" + "63'"},
		{vc, "", "''"},
		{dt, "2020-01-02 03:04:05", "'2020-01-02 03:04:05'"},
		{dec, "-12.50", "-12.50"},
		{fl, float32(1.1), "1.1"},
		{&column{Class: classNumeric, Bits: 64, Unsigned: true}, int64(-1), "18446744073709551615"},
	}
	for _, c := range cases {
		if got := valueLiteral(c.c, c.v); got != c.want {
			t.Errorf("%s %v: got %s want %s", c.c.DataType, c.v, got, c.want)
		}
	}
	if got := keyLiteral(vc, "X'61'"); got != "_utf8mb4 X'61' COLLATE utf8mb4_general_ci" {
		t.Errorf("keyLiteral: %s", got)
	}
	ti := &tableInfo{Columns: []*column{{Name: "a", Class: classNumeric, Bits: 32}, {Name: "b", Class: classNumeric, Bits: 32}}, Key: []int{0, 1}}
	if got := ti.keyAfter([]string{"1", "2"}); got != "(`a`>1) OR (`a`=1 AND `b`>2)" {
		t.Errorf("keyAfter: %s", got)
	}
}

func TestSplitSecondaryKeys(t *testing.T) {
	create := "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `e` varchar(10) DEFAULT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `ue` (`e`),\n  KEY `ie` (`e`)\n) ENGINE=InnoDB"
	got, keys := splitSecondaryKeys(create, "")
	want := "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `e` varchar(10) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB"
	if got != want {
		t.Errorf("create:\n%s", got)
	}
	if !reflect.DeepEqual(keys, []string{"ADD UNIQUE KEY `ue` (`e`)", "ADD KEY `ie` (`e`)"}) {
		t.Errorf("keys: %q", keys)
	}
	if a := addIfNotExists(keys[0]); a != "ADD UNIQUE KEY IF NOT EXISTS `ue` (`e`)" {
		t.Errorf("addIfNotExists: %s", a)
	}
}

func TestRewriteQualifier(t *testing.T) {
	cases := map[string]string{
		"ALTER TABLE commerce.customer ADD c INT":                "ALTER TABLE `customer_db`.customer ADD c INT",
		"ALTER TABLE `commerce`.`customer` COMMENT 'commerce.x'": "ALTER TABLE `customer_db`.`customer` COMMENT 'commerce.x'",
		"ALTER TABLE customer ADD commerce INT":                  "ALTER TABLE customer ADD commerce INT",
		"RENAME TABLE commerce.a TO commerce.b":                  "RENAME TABLE `customer_db`.a TO `customer_db`.b",
	}
	for in, want := range cases {
		if got := rewriteQualifier(in, "commerce", "customer_db"); got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}
