//! SQLAlchemy 2 (Core, over psycopg 3) against the `aiondb` binary:
//! typed parameters and every common column type round-tripping, a failed
//! transaction rolled back as a whole, server errors with their SQLSTATE,
//! reflection, and COPY through the driver connection. The same script runs
//! against the reference PostgreSQL 15 and must print the same.
//! (Reflection in depth is in `sqlalchemy_reflection.rs`.)

use std::process::Command;

use aiondb_integration_tests::wire::*;

const SCRIPT: &str = r#"
import sys, datetime, decimal, uuid
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, DBAPIError
conninfo = sys.argv[1]
parts = dict(p.split("=", 1) for p in conninfo.split())
url = sa.URL.create("postgresql+psycopg", username=parts["user"], password=parts["password"],
                    host=parts["host"], port=int(parts["port"]), database=parts["dbname"])
engine = sa.create_engine(url)
meta = sa.MetaData()
items = sa.Table("sa_items", meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(40), nullable=False, unique=True),
    sa.Column("price", sa.Numeric(10, 2)),
    sa.Column("qty", sa.BigInteger),
    sa.Column("ratio", sa.Float),
    sa.Column("active", sa.Boolean),
    sa.Column("born", sa.Date),
    sa.Column("seen", sa.DateTime(timezone=True)),
    sa.Column("ident", sa.Uuid),
    sa.Column("blob", sa.LargeBinary),
    sa.Column("doc", sa.JSON),
)
with engine.begin() as c:
    meta.drop_all(c)
    meta.create_all(c)
row = dict(id=1, name="widget", price=decimal.Decimal("9.99"), qty=2**40, ratio=0.25, active=True,
           born=datetime.date(2020, 2, 29),
           seen=datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.timezone.utc),
           ident=uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), blob=b"\x00\xff", doc={"a": [1, 2]})
with engine.begin() as c:
    c.execute(items.insert(), [row, dict(row, id=2, name="gadget", price=None, doc=None)])
with engine.connect() as c:
    got = c.execute(sa.select(items).where(items.c.id == sa.bindparam("i")), {"i": 1}).mappings().one()
    print("round trip", all(got[k] == v for k, v in row.items()))
    print("null price", c.execute(sa.select(items.c.price).where(items.c.id == 2)).scalar())
# A transaction that fails is rolled back as a whole.
try:
    with engine.begin() as c:
        c.execute(items.update().where(items.c.id == 1).values(qty=0))
        c.execute(items.insert(), dict(row, id=3))  # duplicate name
except IntegrityError as e:
    print("integrity", e.orig.sqlstate)
with engine.connect() as c:
    print("qty kept", c.execute(sa.select(items.c.qty).where(items.c.id == 1)).scalar() == 2**40)
    try:
        c.execute(sa.text("SELECT 1 / 0"))
    except DBAPIError as e:
        print("error", e.orig.sqlstate)
    c.rollback()
    # ORM-free reflection and raw COPY through the driver connection.
    insp = sa.inspect(c)
    print("tables", "sa_items" in insp.get_table_names())
    print("pk", insp.get_pk_constraint("sa_items")["constrained_columns"])
    raw = c.connection.driver_connection
    with raw.cursor() as cur:
        with cur.copy("COPY sa_items (id, name, qty) FROM STDIN") as cp:
            for i in range(10, 15):
                cp.write_row((i, f"copied{i}", i * 10))
    raw.commit()
    print("count", c.execute(sa.text("SELECT count(*) FROM sa_items")).scalar())
with engine.begin() as c:
    meta.drop_all(c)
"#;

const EXPECTED: &str = "round trip True
null price None
integrity 23505
qty kept True
error 22012
tables True
pk ['id']
count 7
";

#[test]
fn sqlalchemy_core_matches_postgresql() {
    if !have("python3", &["-c", "import sqlalchemy, psycopg"]) {
        return;
    }
    let server = Server::start(&[]);
    let out = server.python(SCRIPT);
    assert_eq!(text(&out.stdout), EXPECTED, "{}", text(&out.stderr));
    if let Some(reference) = reference_pg() {
        let out = Command::new("python3")
            .args(["-c", SCRIPT, &format!("{reference} dbname=postgres")])
            .output()
            .expect("python3");
        assert_eq!(text(&out.stdout), EXPECTED, "{}", text(&out.stderr));
    }
}
