#!/usr/bin/env python3
"""Manual interop check of frazil's SQLite catalog layout (see docs/catalog.md).

Proves, on one SQLite file, that:
  1. frazil creates a namespace and a table (and commits a second version);
  2. PyIceberg's SqlCatalog lists and loads it, scans it, and creates `py_table`;
  3. Spark's JdbcCatalog lists and loads it, inserts a row into it (a CAS commit by Java),
     creates `spark_table`, and reads `py_table`;
  4. frazil lists and loads all three tables and commits a property on each;
  5. PyIceberg sees frazil's commits and Spark's row.

Usage: .venv/bin/python tests/resources/catalog/check_layout.py [path/to/catalog_test]
(catalog_test defaults to build/catalog_test; it runs the SqliteCatalogInterop test.)
"""
import glob
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def run_frazil(binary, workdir, phase):
    env = dict(os.environ, FRAZIL_CATALOG_INTEROP_DIR=workdir, FRAZIL_CATALOG_INTEROP_PHASE=phase)
    out = subprocess.run([binary, "--gtest_filter=SqliteCatalogInterop.*"], env=env,
                         capture_output=True, text=True)
    print("\n".join(line for line in out.stdout.splitlines() if line.startswith("FRAZIL")))
    if out.returncode != 0 or "[  PASSED  ] 1 test" not in out.stdout:
        print(out.stdout, out.stderr)
        raise SystemExit(f"frazil phase {phase} failed")


def pyiceberg_catalog(workdir):
    from pyiceberg.catalog.sql import SqlCatalog
    return SqlCatalog("frazil", uri=f"sqlite:///{workdir}/catalog.db", warehouse=f"file://{workdir}/warehouse")


def check_pyiceberg_first(workdir):
    import pyarrow as pa
    cat = pyiceberg_catalog(workdir)
    assert ("interop",) in cat.list_namespaces(), cat.list_namespaces()
    assert cat.load_namespace_properties("interop")["comment"] == "made by frazil"
    assert ("interop", "frazil_table") in cat.list_tables("interop")
    t = cat.load_table("interop.frazil_table")
    assert [f.name for f in t.schema().fields] == ["id", "name"], t.schema()
    assert t.properties["written-by"] == "frazil" and t.properties["frazil.commit"] == "1"
    assert len(t.metadata.metadata_log) == 1
    assert t.scan().to_arrow().num_rows == 0
    print("PYICEBERG listed and loaded interop.frazil_table:", t.metadata_location)
    py = cat.create_table("interop.py_table", schema=pa.schema([("x", pa.int64())]))
    py.append(pa.table({"x": [1, 2, 3]}))
    print("PYICEBERG created interop.py_table with 3 rows")


def check_spark(workdir):
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    jars = ",".join(sorted(glob.glob(os.path.join(ROOT, ".deps", "jars", "iceberg-spark-runtime-3.5_*.jar")) +
                           glob.glob(os.path.join(ROOT, ".deps", "jars", "sqlite-jdbc-*.jar"))))
    spark = (SparkSession.builder.master("local[1]").appName("frazil-catalog-layout")
             .config("spark.jars", jars)
             .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
             .config("spark.sql.catalog.frazil", "org.apache.iceberg.spark.SparkCatalog")
             .config("spark.sql.catalog.frazil.catalog-impl", "org.apache.iceberg.jdbc.JdbcCatalog")
             .config("spark.sql.catalog.frazil.uri", f"jdbc:sqlite:{workdir}/catalog.db")
             .config("spark.sql.catalog.frazil.warehouse", f"file://{workdir}/warehouse")
             .config("spark.ui.enabled", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        namespaces = [r[0] for r in spark.sql("SHOW NAMESPACES IN frazil").collect()]
        assert "interop" in namespaces, namespaces
        tables = sorted(r.tableName for r in spark.sql("SHOW TABLES IN frazil.interop").collect())
        assert tables == ["frazil_table", "py_table"], tables
        cols = [r.col_name for r in spark.sql("DESCRIBE TABLE frazil.interop.frazil_table").collect()]
        assert cols[:2] == ["id", "name"], cols
        assert spark.sql("SELECT count(*) FROM frazil.interop.frazil_table").collect()[0][0] == 0
        spark.sql("INSERT INTO frazil.interop.frazil_table VALUES (1, 'from spark')")
        assert spark.sql("SELECT count(*) FROM frazil.interop.py_table").collect()[0][0] == 3
        spark.sql("CREATE TABLE frazil.interop.spark_table (k bigint, v string) USING iceberg")
        spark.sql("INSERT INTO frazil.interop.spark_table VALUES (7, 'seven')")
        print("SPARK listed/loaded frazil_table, inserted a row, read py_table, created spark_table")
    finally:
        spark.stop()


def check_pyiceberg_last(workdir):
    cat = pyiceberg_catalog(workdir)
    for name in ("frazil_table", "py_table", "spark_table"):
        t = cat.load_table(f"interop.{name}")
        assert t.properties.get("frazil.verified") == "true", (name, t.properties)
    rows = cat.load_table("interop.frazil_table").scan().to_arrow().to_pylist()
    assert rows == [{"id": 1, "name": "from spark"}], rows
    print("PYICEBERG sees frazil's commits on all three tables and Spark's row in frazil_table")


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "catalog_test"))
    with tempfile.TemporaryDirectory(prefix="frazil-layout-") as workdir:
        run_frazil(binary, workdir, "create")
        check_pyiceberg_first(workdir)
        check_spark(workdir)
        run_frazil(binary, workdir, "verify")
        check_pyiceberg_last(workdir)
    print("OK: PyIceberg SqlCatalog, Spark JdbcCatalog and frazil share the catalog file")


if __name__ == "__main__":
    main()
