package testcluster

import (
	"testing"
)

func TestStartWithReplicas(t *testing.T) {
	c := Start(t, Options{Replicas: []string{"replica", "rdonly"}, Databases: []string{"commerce"}})
	c.Primary.Exec(t, "CREATE TABLE commerce.t (id INT PRIMARY KEY)", "INSERT INTO commerce.t VALUES (1),(2)")
	c.WaitReplicas(t, 10e9)
	for _, r := range c.Replicas {
		if got := r.QueryString(t, "SELECT COUNT(*) FROM commerce.t"); got != "2" {
			t.Fatalf("%s has %s rows, want 2", r.Name, got)
		}
	}
	if got := c.Primary.QueryString(t, "SELECT @@binlog_format"); got != "ROW" {
		t.Fatalf("binlog_format=%s", got)
	}
}
