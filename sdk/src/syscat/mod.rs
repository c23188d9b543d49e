//! The system catalog as clients query it: `pg_catalog` relations
//! (`pg_class`, `pg_attribute`, ...), the `information_schema` views and the
//! catalog functions (`pg_get_indexdef`, `format_type`, `regclass` I/O ...),
//! all computed from the live [`Catalog`](crate::catalog::Catalog) on every
//! read, so they never go stale and no plugin keeps a copy.
//!
//! The planner resolves a system relation name to an
//! [`Operator::TableFunction`](crate::plan::Operator::TableFunction) whose
//! call name is the qualified relation name (`pg_catalog.pg_class`) and
//! whose columns are [`SysRelation::schema`]; the executor fills it with
//! [`rows`]. Catalog functions are
//! [`SpecialFunc::Catalog`](crate::plan::SpecialFunc::Catalog) calls,
//! evaluated by [`call`].
//!
//! Object identifiers: catalog ids are PostgreSQL-style OIDs already (user
//! objects from 16384, `pg_catalog` 11, `public` 2200); constraints and
//! column defaults, which have no catalog id, get derived OIDs
//! ([`constraint_oid`], [`attrdef_oid`]). Roles: the session user is OID 10
//! (PostgreSQL's bootstrap superuser) and owns every object; `public` is
//! owned by `pg_database_owner` (6171) as in PostgreSQL 15.

mod funcs;
mod rows;

pub use funcs::{call, lookup_function, reg_input, reg_output, regclass_in, SysFunc, SysFunction};
pub use rows::rows;

use abi_stable::std_types::RString;

use crate::capability::{ExecContext, Services};
use crate::catalog::{CatalogRef, KeyValue, SchemaDef, TableDef};
use crate::row::{Field, Schema};
use crate::types::{DataType, TypeId};

/// OID of the session user (PostgreSQL's bootstrap superuser OID).
pub const SESSION_USER_OID: u32 = 10;
/// OID of the `pg_database_owner` role, owner of `public`.
pub const DATABASE_OWNER_OID: u32 = 6171;
/// OID the current database is shown with.
pub const DATABASE_OID: u32 = 5;
const CONSTRAINT_OID_BASE: u64 = 1 << 30;
const ATTRDEF_OID_BASE: u64 = 1 << 31;
/// Constraints per table addressable through a derived OID.
const CONSTRAINTS_PER_TABLE: u64 = 64;

/// OID of constraint number `k` of table `table`.
pub fn constraint_oid(table: u64, k: usize) -> i64 {
    (CONSTRAINT_OID_BASE + table * CONSTRAINTS_PER_TABLE + k as u64) as i64
}

/// (table, constraint number) of a constraint OID.
pub fn constraint_of(oid: i64) -> Option<(u64, usize)> {
    let o = u64::try_from(oid).ok()?.checked_sub(CONSTRAINT_OID_BASE)?;
    if o >= ATTRDEF_OID_BASE - CONSTRAINT_OID_BASE {
        return None;
    }
    Some((
        o / CONSTRAINTS_PER_TABLE,
        (o % CONSTRAINTS_PER_TABLE) as usize,
    ))
}

/// OID of the default of column `attnum` (1-based) of table `table`.
pub fn attrdef_oid(table: u64, attnum: usize) -> i64 {
    (ATTRDEF_OID_BASE + table * 2048 + attnum as u64) as i64
}

/// What system relations and functions read besides the catalog.
pub struct SysCx<'a> {
    pub services: &'a Services,
    pub user: &'a str,
    pub database: &'a str,
    pub search_path: &'a [RString],
    pub settings: &'a [KeyValue],
    /// The session's process id as `pg_backend_pid()` reports it.
    pub session: u64,
}

impl<'a> SysCx<'a> {
    pub fn new(ctx: &'a ExecContext, services: &'a Services) -> Self {
        SysCx {
            services,
            user: ctx.user.as_str(),
            database: ctx.database.as_str(),
            search_path: ctx.search_path.as_slice(),
            settings: ctx.settings.as_slice(),
            session: ctx.session,
        }
    }

    /// Schemas an unqualified name is looked up in, in order: `pg_catalog`
    /// first unless the path names it, `$user` replaced by the user.
    pub fn search_schemas(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.search_path.iter().any(|s| s.as_str() == "pg_catalog") {
            out.push("pg_catalog".to_string());
        }
        for s in self.search_path {
            let s = s.as_str().trim().trim_matches('"');
            if s == "$user" {
                out.push(self.user.to_string());
            } else {
                out.push(s.to_string());
            }
        }
        out
    }

    pub fn schema_by_id(&self, id: u32) -> Option<SchemaDef> {
        if id == rows::INFORMATION_SCHEMA_OID {
            return Some(SchemaDef {
                id,
                name: "information_schema".into(),
                owner: self.user.into(),
            });
        }
        self.services
            .catalog
            .schemas()
            .into_iter()
            .find(|s| s.id == id)
    }

    /// A table, view or sequence by OID (sequences as a `TableDef` of kind
    /// `Sequence` with no columns).
    pub fn relation(&self, oid: i64) -> Option<TableDef> {
        let id = u64::try_from(oid).ok()?;
        if let Some(t) = self.services.catalog.table_by_id(id).into_option() {
            return Some(t);
        }
        self.services
            .catalog
            .sequences()
            .into_iter()
            .find(|s| s.id == id)
            .map(|s| TableDef {
                id: s.id,
                schema: s.schema,
                name: s.name,
                kind: crate::catalog::RelationKind::Sequence,
                columns: Default::default(),
                constraints: Default::default(),
                storage_backend: RString::new(),
                view_sql: abi_stable::std_types::ROption::RNone,
            })
    }

    /// The relation's name as `regclass` prints it: qualified when an
    /// unqualified lookup would not find it.
    pub fn relation_display_name(&self, schema: u32, name: &str) -> String {
        let visible = self.relation_visible(schema, name);
        let schema_name = self.schema_by_id(schema).map(|s| s.name.to_string());
        match schema_name {
            Some(s) if !visible => format!("{}.{}", quote_ident(&s), quote_ident(name)),
            _ => quote_ident(name),
        }
    }

    /// Whether `schema.name` is what an unqualified `name` resolves to.
    pub fn relation_visible(&self, schema: u32, name: &str) -> bool {
        let cat = &self.services.catalog;
        for s in self.search_schemas() {
            if s == "pg_catalog" && lookup_relation(None, name).is_some() {
                return schema == 11;
            }
            let Some(def) = cat.schema_by_name(s.as_str().into()).into_option() else {
                continue;
            };
            let found = cat.table_by_name(def.id, name.into()).is_some()
                || cat.sequence_by_name(def.id, name.into()).is_some()
                || self.index_by_name(def.id, name).is_some();
            if found {
                return def.id == schema;
            }
        }
        false
    }

    /// The catalog's indexes by OID and by (schema, name), built once per
    /// catalog version and thread: catalog functions look indexes up per
    /// row, and the catalog has no index-by-id lookup.
    fn indexes(&self) -> std::rc::Rc<IndexMap> {
        thread_local! {
            static CACHE: std::cell::RefCell<Option<std::rc::Rc<IndexMap>>> =
                const { std::cell::RefCell::new(None) };
        }
        let cat = &self.services.catalog;
        let key = (&**cat as *const CatalogRef as usize, cat.version());
        CACHE.with(|c| {
            if let Some(m) = c.borrow().as_ref().filter(|m| m.key == key) {
                return m.clone();
            }
            let mut m = IndexMap {
                key,
                by_oid: Default::default(),
                by_name: Default::default(),
            };
            for t in cat.tables(abi_stable::std_types::ROption::RNone).iter() {
                for i in cat.indexes_of(t.id).into_iter() {
                    m.by_name
                        .insert((t.schema, i.name.to_string()), i.id as i64);
                    m.by_oid.insert(i.id as i64, (t.clone(), i));
                }
            }
            let m = std::rc::Rc::new(m);
            *c.borrow_mut() = Some(m.clone());
            m
        })
    }

    /// An index and its table by the index's OID.
    pub fn index_by_oid(&self, oid: i64) -> Option<(TableDef, crate::catalog::IndexDef)> {
        self.indexes().by_oid.get(&oid).cloned()
    }

    /// The OID of index `name` in `schema`.
    pub fn index_by_name(&self, schema: u32, name: &str) -> Option<i64> {
        self.indexes()
            .by_name
            .get(&(schema, name.to_string()))
            .copied()
    }

    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|kv| kv.key.as_str().eq_ignore_ascii_case(name))
            .map(|kv| kv.value.as_str())
    }
}

struct IndexMap {
    /// (catalog address, catalog version) the map was built from.
    key: (usize, u64),
    by_oid: std::collections::HashMap<i64, (TableDef, crate::catalog::IndexDef)>,
    by_name: std::collections::HashMap<(u32, String), i64>,
}

/// A system relation: where it lives and its columns.
pub struct SysRelation {
    pub schema: &'static str,
    pub name: &'static str,
    /// `name:type` pairs separated by spaces (`"char"` is written `char`,
    /// arrays `type[]`). PostgreSQL's `int2vector`/`oidvector` columns are
    /// arrays here, except `indoption`, which clients split as text.
    columns: &'static str,
}

impl SysRelation {
    /// Its OID: PostgreSQL's for the core catalogs, a fixed one below
    /// 16384 for the others.
    pub fn oid(&self) -> i64 {
        let pg = match (self.schema, self.name) {
            ("pg_catalog", "pg_type") => 1247,
            ("pg_catalog", "pg_attribute") => 1249,
            ("pg_catalog", "pg_proc") => 1255,
            ("pg_catalog", "pg_class") => 1259,
            ("pg_catalog", "pg_authid") => 1260,
            ("pg_catalog", "pg_database") => 1262,
            ("pg_catalog", "pg_namespace") => 2615,
            ("pg_catalog", "pg_constraint") => 2606,
            ("pg_catalog", "pg_index") => 2610,
            ("pg_catalog", "pg_attrdef") => 2604,
            ("pg_catalog", "pg_description") => 2609,
            ("pg_catalog", "pg_am") => 2601,
            ("pg_catalog", "pg_inherits") => 2611,
            ("pg_catalog", "pg_tablespace") => 1213,
            ("pg_catalog", "pg_collation") => 3456,
            ("pg_catalog", "pg_sequence") => 2224,
            ("pg_catalog", "pg_depend") => 2608,
            ("pg_catalog", "pg_trigger") => 2620,
            ("pg_catalog", "pg_rewrite") => 2618,
            ("pg_catalog", "pg_enum") => 3501,
            ("pg_catalog", "pg_extension") => 3079,
            _ => 0,
        };
        if pg != 0 {
            return pg;
        }
        let pos = RELATIONS
            .iter()
            .position(|r| std::ptr::eq(r, self))
            .unwrap_or(0);
        12_000 + pos as i64
    }

    /// The namespace OID it lives in.
    pub fn namespace_oid(&self) -> u32 {
        if self.schema == "pg_catalog" {
            11
        } else {
            rows::INFORMATION_SCHEMA_OID
        }
    }

    /// `v` for the views (`pg_tables`, `information_schema.*`), else `r`.
    pub fn relkind(&self) -> char {
        let views = [
            "pg_roles",
            "pg_user",
            "pg_settings",
            "pg_tables",
            "pg_views",
            "pg_indexes",
            "pg_sequences",
            "pg_stat_activity",
        ];
        if self.schema != "pg_catalog" || views.contains(&self.name) {
            'v'
        } else {
            'r'
        }
    }

    /// The qualified name the executor dispatches on.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// Output columns.
    pub fn schema(&self) -> Schema {
        Schema::new(
            self.columns
                .split_whitespace()
                .filter_map(|c| {
                    let (name, ty) = c.split_once(':')?;
                    Some(Field::new(name, column_type(ty), true))
                })
                .collect(),
        )
    }
}

fn column_type(ty: &str) -> DataType {
    let (base, array) = match ty.strip_suffix("[]") {
        Some(b) => (b, true),
        None => (ty, false),
    };
    let id = match base {
        "char" => TypeId::InternalChar,
        other => TypeId::from_sql_name(other).unwrap_or(TypeId::Text),
    };
    DataType {
        id,
        typmod: -1,
        is_array: array,
    }
}

macro_rules! rel {
    ($schema:literal, $name:literal, $cols:literal) => {
        SysRelation {
            schema: $schema,
            name: $name,
            columns: $cols,
        }
    };
}

/// Every system relation.
pub static RELATIONS: &[SysRelation] = &[
    rel!("pg_catalog", "pg_namespace", "oid:oid nspname:name nspowner:oid nspacl:text[]"),
    rel!("pg_catalog", "pg_class", "oid:oid relname:name relnamespace:oid reltype:oid reloftype:oid relowner:oid relam:oid relfilenode:oid reltablespace:oid relpages:int4 reltuples:float4 relallvisible:int4 reltoastrelid:oid relhasindex:bool relisshared:bool relpersistence:char relkind:char relnatts:int2 relchecks:int2 relhasrules:bool relhastriggers:bool relhassubclass:bool relrowsecurity:bool relforcerowsecurity:bool relispopulated:bool relreplident:char relispartition:bool relrewrite:oid relacl:text[] reloptions:text[] relpartbound:text"),
    rel!("pg_catalog", "pg_attribute", "attrelid:oid attname:name atttypid:oid attstattarget:int4 attlen:int2 attnum:int2 attndims:int4 attcacheoff:int4 atttypmod:int4 attbyval:bool attalign:char attstorage:char attcompression:char attnotnull:bool atthasdef:bool atthasmissing:bool attidentity:char attgenerated:char attisdropped:bool attislocal:bool attinhcount:int4 attcollation:oid attacl:text[] attoptions:text[] attfdwoptions:text[]"),
    rel!("pg_catalog", "pg_attrdef", "oid:oid adrelid:oid adnum:int2 adbin:text"),
    rel!("pg_catalog", "pg_type", "oid:oid typname:name typnamespace:oid typowner:oid typlen:int2 typbyval:bool typtype:char typcategory:char typispreferred:bool typisdefined:bool typdelim:char typrelid:oid typsubscript:regproc typelem:oid typarray:oid typinput:regproc typoutput:regproc typreceive:regproc typsend:regproc typmodin:regproc typmodout:regproc typanalyze:regproc typalign:char typstorage:char typnotnull:bool typbasetype:oid typtypmod:int4 typndims:int4 typcollation:oid typdefaultbin:text typdefault:text typacl:text[]"),
    rel!("pg_catalog", "pg_index", "indexrelid:oid indrelid:oid indnatts:int2 indnkeyatts:int2 indisunique:bool indnullsnotdistinct:bool indisprimary:bool indisexclusion:bool indimmediate:bool indisclustered:bool indisvalid:bool indcheckxmin:bool indisready:bool indislive:bool indisreplident:bool indkey:int2[] indcollation:oid[] indclass:oid[] indoption:text indexprs:text indpred:text"),
    rel!("pg_catalog", "pg_constraint", "oid:oid conname:name connamespace:oid contype:char condeferrable:bool condeferred:bool convalidated:bool conrelid:oid contypid:oid conindid:oid conparentid:oid confrelid:oid confupdtype:char confdeltype:char confmatchtype:char conislocal:bool coninhcount:int4 connoinherit:bool conkey:int2[] confkey:int2[] conpfeqop:oid[] conppeqop:oid[] conffeqop:oid[] confdelsetcols:int2[] conexclop:oid[] conbin:text"),
    rel!("pg_catalog", "pg_database", "oid:oid datname:name datdba:oid encoding:int4 datlocprovider:char datistemplate:bool datallowconn:bool datconnlimit:int4 dattablespace:oid datcollate:text datctype:text daticulocale:text datcollversion:text datacl:text[]"),
    rel!("pg_catalog", "pg_roles", "rolname:name rolsuper:bool rolinherit:bool rolcreaterole:bool rolcreatedb:bool rolcanlogin:bool rolreplication:bool rolconnlimit:int4 rolpassword:text rolvaliduntil:timestamptz rolbypassrls:bool rolconfig:text[] oid:oid"),
    rel!("pg_catalog", "pg_authid", "oid:oid rolname:name rolsuper:bool rolinherit:bool rolcreaterole:bool rolcreatedb:bool rolcanlogin:bool rolreplication:bool rolbypassrls:bool rolconnlimit:int4 rolpassword:text rolvaliduntil:timestamptz"),
    rel!("pg_catalog", "pg_user", "usename:name usesysid:oid usecreatedb:bool usesuper:bool userepl:bool usebypassrls:bool passwd:text valuntil:timestamptz useconfig:text[]"),
    rel!("pg_catalog", "pg_auth_members", "roleid:oid member:oid grantor:oid admin_option:bool"),
    rel!("pg_catalog", "pg_settings", "name:text setting:text unit:text category:text short_desc:text extra_desc:text context:text vartype:text source:text min_val:text max_val:text enumvals:text[] boot_val:text reset_val:text sourcefile:text sourceline:int4 pending_restart:bool"),
    rel!("pg_catalog", "pg_proc", "oid:oid proname:name pronamespace:oid proowner:oid prolang:oid procost:float4 prorows:float4 provariadic:oid prokind:char prosecdef:bool proleakproof:bool proisstrict:bool proretset:bool provolatile:char proparallel:char pronargs:int2 pronargdefaults:int2 prorettype:oid proargtypes:oid[] proallargtypes:oid[] proargmodes:char[] proargnames:text[] prosrc:text"),
    rel!("pg_catalog", "pg_opclass", "oid:oid opcmethod:oid opcname:name opcnamespace:oid opcowner:oid opcfamily:oid opcintype:oid opcdefault:bool opckeytype:oid"),
    rel!("pg_catalog", "pg_description", "objoid:oid classoid:oid objsubid:int4 description:text"),
    rel!("pg_catalog", "pg_shdescription", "objoid:oid classoid:oid description:text"),
    rel!("pg_catalog", "pg_am", "oid:oid amname:name amhandler:regproc amtype:char"),
    rel!("pg_catalog", "pg_inherits", "inhrelid:oid inhparent:oid inhseqno:int4 inhdetachpending:bool"),
    rel!("pg_catalog", "pg_tablespace", "oid:oid spcname:name spcowner:oid spcacl:text[] spcoptions:text[]"),
    rel!("pg_catalog", "pg_collation", "oid:oid collname:name collnamespace:oid collowner:oid collprovider:char collisdeterministic:bool collencoding:int4 collcollate:text collctype:text colliculocale:text collversion:text"),
    rel!("pg_catalog", "pg_sequence", "seqrelid:oid seqtypid:oid seqstart:int8 seqincrement:int8 seqmax:int8 seqmin:int8 seqcache:int8 seqcycle:bool"),
    rel!("pg_catalog", "pg_depend", "classid:oid objid:oid objsubid:int4 refclassid:oid refobjid:oid refobjsubid:int4 deptype:char"),
    rel!("pg_catalog", "pg_enum", "oid:oid enumtypid:oid enumsortorder:float4 enumlabel:name"),
    rel!("pg_catalog", "pg_extension", "oid:oid extname:name extowner:oid extnamespace:oid extrelocatable:bool extversion:text"),
    rel!("pg_catalog", "pg_policy", "oid:oid polname:name polrelid:oid polcmd:char polpermissive:bool polroles:oid[] polqual:text polwithcheck:text"),
    rel!("pg_catalog", "pg_statistic_ext", "oid:oid stxrelid:oid stxname:name stxnamespace:oid stxowner:oid stxstattarget:int4 stxkeys:int2[] stxkind:char[] stxexprs:text"),
    rel!("pg_catalog", "pg_publication", "oid:oid pubname:name pubowner:oid puballtables:bool pubinsert:bool pubupdate:bool pubdelete:bool pubtruncate:bool pubviaroot:bool"),
    rel!("pg_catalog", "pg_publication_namespace", "oid:oid pnpubid:oid pnnspid:oid"),
    rel!("pg_catalog", "pg_publication_rel", "oid:oid prpubid:oid prrelid:oid prqual:text prattrs:int2[]"),
    rel!("pg_catalog", "pg_trigger", "oid:oid tgrelid:oid tgparentid:oid tgname:name tgfoid:oid tgtype:int2 tgenabled:char tgisinternal:bool tgconstrrelid:oid tgconstrindid:oid tgconstraint:oid tgdeferrable:bool tginitdeferred:bool tgnargs:int2 tgattr:int2[] tgargs:bytea tgqual:text tgoldtable:name tgnewtable:name"),
    rel!("pg_catalog", "pg_cast", "oid:oid castsource:oid casttarget:oid castfunc:oid castcontext:char castmethod:char"),
    rel!("pg_catalog", "pg_operator", "oid:oid oprname:name oprnamespace:oid oprowner:oid oprkind:char oprcanmerge:bool oprcanhash:bool oprleft:oid oprright:oid oprresult:oid oprcom:oid oprnegate:oid oprcode:regproc oprrest:regproc oprjoin:regproc"),
    rel!("pg_catalog", "pg_conversion", "oid:oid conname:name connamespace:oid conowner:oid conforencoding:int4 contoencoding:int4 conproc:regproc condefault:bool"),
    rel!("pg_catalog", "pg_event_trigger", "oid:oid evtname:name evtevent:name evtowner:oid evtfoid:oid evtenabled:char evttags:text[]"),
    rel!("pg_catalog", "pg_ts_config", "oid:oid cfgname:name cfgnamespace:oid cfgowner:oid cfgparser:oid"),
    rel!("pg_catalog", "pg_language", "oid:oid lanname:name lanowner:oid lanispl:bool lanpltrusted:bool lanplcallfoid:oid laninline:oid lanvalidator:oid lanacl:text[]"),
    rel!("pg_catalog", "pg_db_role_setting", "setdatabase:oid setrole:oid setconfig:text[]"),
    rel!("pg_catalog", "pg_subscription", "oid:oid subdbid:oid subname:name subowner:oid subenabled:bool subbinary:bool substream:bool subtwophasestate:char subdisableonerr:bool subconninfo:text subslotname:name subsynccommit:text subpublications:text[]"),
    rel!("pg_catalog", "pg_foreign_data_wrapper", "oid:oid fdwname:name fdwowner:oid fdwhandler:oid fdwvalidator:oid fdwacl:text[] fdwoptions:text[]"),
    rel!("pg_catalog", "pg_foreign_server", "oid:oid srvname:name srvowner:oid srvfdw:oid srvtype:text srvversion:text srvacl:text[] srvoptions:text[]"),
    rel!("pg_catalog", "pg_foreign_table", "ftrelid:oid ftserver:oid ftoptions:text[]"),
    rel!("pg_catalog", "pg_user_mappings", "umid:oid srvid:oid srvname:name umuser:oid usename:name umoptions:text[]"),
    rel!("pg_catalog", "pg_largeobject_metadata", "oid:oid lomowner:oid lomacl:text[]"),
    rel!("pg_catalog", "pg_rewrite", "oid:oid rulename:name ev_class:oid ev_type:char ev_enabled:char is_instead:bool ev_qual:text ev_action:text"),
    rel!("pg_catalog", "pg_tables", "schemaname:name tablename:name tableowner:name tablespace:name hasindexes:bool hasrules:bool hastriggers:bool rowsecurity:bool"),
    rel!("pg_catalog", "pg_views", "schemaname:name viewname:name viewowner:name definition:text"),
    rel!("pg_catalog", "pg_indexes", "schemaname:name tablename:name indexname:name tablespace:name indexdef:text"),
    rel!("pg_catalog", "pg_sequences", "schemaname:name sequencename:name sequenceowner:name data_type:regtype start_value:int8 min_value:int8 max_value:int8 increment_by:int8 cycle:bool cache_size:int8 last_value:int8"),
    rel!("pg_catalog", "pg_stat_activity", "datid:oid datname:name pid:int4 leader_pid:int4 usesysid:oid usename:name application_name:text client_addr:text client_hostname:text client_port:int4 backend_start:timestamptz xact_start:timestamptz query_start:timestamptz state_change:timestamptz wait_event_type:text wait_event:text state:text backend_xid:text backend_xmin:text query_id:int8 query:text backend_type:text"),
    rel!("information_schema", "schemata", "catalog_name:name schema_name:name schema_owner:name default_character_set_catalog:name default_character_set_schema:name default_character_set_name:name sql_path:text"),
    rel!("information_schema", "tables", "table_catalog:name table_schema:name table_name:name table_type:varchar self_referencing_column_name:name reference_generation:varchar user_defined_type_catalog:name user_defined_type_schema:name user_defined_type_name:name is_insertable_into:varchar is_typed:varchar commit_action:varchar"),
    rel!("information_schema", "columns", "table_catalog:name table_schema:name table_name:name column_name:name ordinal_position:int4 column_default:varchar is_nullable:varchar data_type:varchar character_maximum_length:int4 character_octet_length:int4 numeric_precision:int4 numeric_precision_radix:int4 numeric_scale:int4 datetime_precision:int4 interval_type:varchar interval_precision:int4 character_set_catalog:name character_set_schema:name character_set_name:name collation_catalog:name collation_schema:name collation_name:name domain_catalog:name domain_schema:name domain_name:name udt_catalog:name udt_schema:name udt_name:name scope_catalog:name scope_schema:name scope_name:name maximum_cardinality:int4 dtd_identifier:name is_self_referencing:varchar is_identity:varchar identity_generation:varchar identity_start:varchar identity_increment:varchar identity_maximum:varchar identity_minimum:varchar identity_cycle:varchar is_generated:varchar generation_expression:varchar is_updatable:varchar"),
    rel!("information_schema", "table_constraints", "constraint_catalog:name constraint_schema:name constraint_name:name table_catalog:name table_schema:name table_name:name constraint_type:varchar is_deferrable:varchar initially_deferred:varchar enforced:varchar nulls_distinct:varchar"),
    rel!("information_schema", "key_column_usage", "constraint_catalog:name constraint_schema:name constraint_name:name table_catalog:name table_schema:name table_name:name column_name:name ordinal_position:int4 position_in_unique_constraint:int4"),
    rel!("information_schema", "views", "table_catalog:name table_schema:name table_name:name view_definition:varchar check_option:varchar is_updatable:varchar is_insertable_into:varchar is_trigger_updatable:varchar is_trigger_deletable:varchar is_trigger_insertable_into:varchar"),
    rel!("information_schema", "sequences", "sequence_catalog:name sequence_schema:name sequence_name:name data_type:varchar numeric_precision:int4 numeric_precision_radix:int4 numeric_scale:int4 start_value:varchar minimum_value:varchar maximum_value:varchar increment:varchar cycle_option:varchar"),
];

/// The system relation `schema.name` (`schema` `None`: an unqualified
/// name, found in `pg_catalog` only, as through the search path).
pub fn lookup_relation(schema: Option<&str>, name: &str) -> Option<&'static SysRelation> {
    let schema = schema.unwrap_or("pg_catalog");
    RELATIONS
        .iter()
        .find(|r| r.schema == schema && r.name == name)
}

/// The system relation a qualified name (`pg_catalog.pg_class`) names.
pub fn relation_by_qualified_name(qualified: &str) -> Option<&'static SysRelation> {
    let (schema, name) = qualified.split_once('.')?;
    lookup_relation(Some(schema), name)
}

pub use crate::ident::quote_ident;

/// Type facts `pg_type` and `pg_attribute` show.
pub(crate) struct TypeFacts {
    pub typname: &'static str,
    pub len: i16,
    pub byval: bool,
    pub category: char,
    pub preferred: bool,
    pub align: char,
    pub storage: char,
    pub collatable: bool,
}

pub(crate) fn type_facts(t: TypeId) -> Option<TypeFacts> {
    use TypeId::*;
    let f = |typname, len, byval, category, preferred, align, storage, collatable| TypeFacts {
        typname,
        len,
        byval,
        category,
        preferred,
        align,
        storage,
        collatable,
    };
    Some(match t {
        Bool => f("bool", 1, true, 'B', true, 'c', 'p', false),
        Int2 => f("int2", 2, true, 'N', false, 's', 'p', false),
        Int4 => f("int4", 4, true, 'N', false, 'i', 'p', false),
        Int8 => f("int8", 8, true, 'N', false, 'd', 'p', false),
        Float4 => f("float4", 4, true, 'N', false, 'i', 'p', false),
        Float8 => f("float8", 8, true, 'N', true, 'd', 'p', false),
        Numeric => f("numeric", -1, false, 'N', false, 'i', 'm', false),
        Text => f("text", -1, false, 'S', true, 'i', 'x', true),
        Varchar => f("varchar", -1, false, 'S', false, 'i', 'x', true),
        Char => f("bpchar", -1, false, 'S', false, 'i', 'x', true),
        Bytea => f("bytea", -1, false, 'U', false, 'i', 'x', false),
        Date => f("date", 4, true, 'D', false, 'i', 'p', false),
        Time => f("time", 8, true, 'D', false, 'd', 'p', false),
        Timestamp => f("timestamp", 8, true, 'D', false, 'd', 'p', false),
        TimestampTz => f("timestamptz", 8, true, 'D', true, 'd', 'p', false),
        Interval => f("interval", 16, false, 'T', true, 'd', 'p', false),
        Uuid => f("uuid", 16, false, 'U', false, 'c', 'p', false),
        Json => f("json", -1, false, 'U', false, 'i', 'x', false),
        Jsonb => f("jsonb", -1, false, 'U', false, 'i', 'x', false),
        Oid => f("oid", 4, true, 'N', true, 'i', 'p', false),
        Name => f("name", 64, false, 'S', false, 'c', 'p', true),
        InternalChar => f("char", 1, true, 'Z', false, 'c', 'p', false),
        RegClass => f("regclass", 4, true, 'N', false, 'i', 'p', false),
        RegType => f("regtype", 4, true, 'N', false, 'i', 'p', false),
        RegProc => f("regproc", 4, true, 'N', false, 'i', 'p', false),
        RegNamespace => f("regnamespace", 4, true, 'N', false, 'i', 'p', false),
        RegRole => f("regrole", 4, true, 'N', false, 'i', 'p', false),
        Unknown | Any | Ext(_) => return None,
    })
}

/// The default collation's OID (`pg_collation`), and `C`'s (what `name`
/// uses).
pub(crate) const DEFAULT_COLLATION: i64 = 100;
pub(crate) const C_COLLATION: i64 = 950;

/// The collation a column of this type gets.
pub(crate) fn type_collation(t: TypeId) -> i64 {
    match t {
        TypeId::Name => C_COLLATION,
        t => match type_facts(t) {
            Some(f) if f.collatable => DEFAULT_COLLATION,
            _ => 0,
        },
    }
}

/// `format_type(oid, typmod)`.
pub fn format_type(oid: u32, typmod: i32) -> Option<String> {
    if let Some(t) = TypeId::from_oid(oid) {
        return Some(DataType::scalar(t).with_typmod(typmod).to_string());
    }
    TypeId::BUILTINS
        .iter()
        .chain(TypeId::SYSTEM.iter())
        .find(|t| t.array_oid() == Some(oid))
        .map(|t| DataType::array_of(*t).with_typmod(typmod).to_string())
}

#[cfg(test)]
mod tests;
