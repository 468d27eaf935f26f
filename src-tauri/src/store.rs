//! The project store: projects, datasets, training runs and artefacts in a
//! SQLite database in the app data folder, migrated with `user_version`.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("project database {path}: {source}")]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("no {0} with id {1}")]
    Missing(&'static str, i64),
    #[error("project database {path}: written by a newer C2S Studio (schema {found}; this version knows {known})\n  hint: update C2S Studio, or move the file away to start with an empty project list")]
    Newer {
        path: PathBuf,
        found: i64,
        known: usize,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Each entry moves the schema one version up; never edit a released one.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        source_path TEXT NOT NULL UNIQUE,
        folder TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (datetime('now')),
        opened_at TEXT NOT NULL DEFAULT (datetime('now'))
    );
    CREATE TABLE datasets (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        folder TEXT NOT NULL,
        options_json TEXT NOT NULL,
        summary_json TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (datetime('now'))
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
        folder TEXT NOT NULL,
        request_json TEXT NOT NULL,
        status TEXT NOT NULL,
        step INTEGER NOT NULL DEFAULT 0,
        total_steps INTEGER NOT NULL DEFAULT 0,
        summary_json TEXT,
        created_at TEXT NOT NULL DEFAULT (datetime('now')),
        updated_at TEXT NOT NULL DEFAULT (datetime('now'))
    );
    CREATE TABLE artefacts (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        meta_json TEXT,
        created_at TEXT NOT NULL DEFAULT (datetime('now'))
    );",
    // The chat of each project, kept across restarts (the web view's chat
    // state as JSON: messages, generated cells, predictions).
    "CREATE TABLE chats (
        project_id INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
        chat_json TEXT NOT NULL,
        updated_at TEXT NOT NULL DEFAULT (datetime('now'))
    );",
    // Cells lassoed on a map and saved under a name (a label of the user's
    // own): the cells' names as a JSON list.
    "CREATE TABLE selections (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        cells_json TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (datetime('now')),
        UNIQUE (project_id, name)
    );",
    // A selection put in the comparison: Compare scores its cells beside the
    // generated ones.
    "ALTER TABLE selections ADD COLUMN compared INTEGER NOT NULL DEFAULT 0;",
];

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Project {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    pub source_path: String,
    pub folder: String,
    pub opened_at: String,
}

/// Cells saved under a name from a map's lasso.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Selection {
    #[ts(type = "number")]
    pub id: i64,
    pub name: String,
    /// The cells' names (obs names), as the map gave them.
    pub cells: Vec<String>,
    /// Whether Compare puts these cells beside the generated ones.
    pub compared: bool,
}

// The JSON columns are kept as the app wrote them (a row of an older
// version still opens); their TypeScript types say what this version writes.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct DatasetRow {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub project_id: i64,
    pub folder: String,
    #[ts(type = "ConvertSummary")]
    pub summary: serde_json::Value,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct RunRow {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub project_id: i64,
    #[ts(type = "number | null")]
    pub dataset_id: Option<i64>,
    pub folder: String,
    #[ts(type = "TrainRequest")]
    pub request: serde_json::Value,
    /// running, paused, interrupted, finished, failed
    pub status: String,
    #[ts(type = "number")]
    pub step: i64,
    #[ts(type = "number")]
    pub total_steps: i64,
    /// How the run ended, or why it failed.
    #[ts(type = "TrainSummary | { error: string } | null")]
    pub summary: Option<serde_json::Value>,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Artefact {
    #[ts(type = "number")]
    pub id: i64,
    pub kind: String,
    pub path: String,
    /// Predictions: the model that made them (and whether it is published).
    #[ts(type = "{ model: string; published?: boolean } | null")]
    pub meta: Option<serde_json::Value>,
    pub created_at: String,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// A `projects` row selected as id, name, source_path, folder, opened_at.
fn project_row(r: &rusqlite::Row) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        name: r.get(1)?,
        source_path: r.get(2)?,
        folder: r.get(3)?,
        opened_at: r.get(4)?,
    })
}

fn json(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

impl Store {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let err = |source| StoreError::Sql {
            path: path.into(),
            source,
        };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        // Migrating down is not possible, and guessing would lose data.
        if version > MIGRATIONS.len() as i64 {
            return Err(StoreError::Newer {
                path: path.into(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(err)?;
            tx.execute_batch(sql).map_err(err)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(Store {
            conn,
            path: path.into(),
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    pub fn schema_version(&self) -> Result<usize> {
        let v: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.err())?;
        Ok(v as usize)
    }

    /// The project for a source file, made on first open; `folder_for` names
    /// its output folder from the new id.
    pub fn open_project(
        &self,
        source: &Path,
        name: &str,
        folder_for: impl Fn(i64) -> PathBuf,
    ) -> Result<Project> {
        let src = source.to_string_lossy();
        // One transaction: a crash between the insert and the folder's
        // update would leave a project whose outputs go to the working folder.
        let tx = self.conn.unchecked_transaction().map_err(self.err())?;
        let found: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, folder FROM projects WHERE source_path = ?1",
                [&src],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        let id = match found {
            Some((id, folder)) => {
                tx.execute(
                    "UPDATE projects SET opened_at = datetime('now') WHERE id = ?1",
                    [id],
                )
                .map_err(self.err())?;
                // Written by a version before this transaction and cut short.
                if folder.is_empty() {
                    tx.execute(
                        "UPDATE projects SET folder = ?1 WHERE id = ?2",
                        params![folder_for(id).to_string_lossy(), id],
                    )
                    .map_err(self.err())?;
                }
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO projects (name, source_path, folder) VALUES (?1, ?2, '')",
                    params![name, src],
                )
                .map_err(self.err())?;
                let id = tx.last_insert_rowid();
                tx.execute(
                    "UPDATE projects SET folder = ?1 WHERE id = ?2",
                    params![folder_for(id).to_string_lossy(), id],
                )
                .map_err(self.err())?;
                id
            }
        };
        tx.commit().map_err(self.err())?;
        self.project(id)
    }

    pub fn project(&self, id: i64) -> Result<Project> {
        self.conn
            .query_row(
                "SELECT id, name, source_path, folder, opened_at FROM projects WHERE id = ?1",
                [id],
                project_row,
            )
            .optional()
            .map_err(self.err())?
            .ok_or(StoreError::Missing("project", id))
    }

    /// Whether `path` is the source file of a project (the page may reopen it).
    pub fn is_project_source(&self, path: &Path) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM projects WHERE source_path = ?1",
                [path.to_string_lossy()],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(self.err())
    }

    /// The project's chat as last saved, if any.
    pub fn chat(&self, project_id: i64) -> Result<Option<serde_json::Value>> {
        self.conn
            .query_row(
                "SELECT chat_json FROM chats WHERE project_id = ?1",
                [project_id],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map(json)
            .map_err(self.err())
    }

    /// Replaces the project's chat.
    pub fn save_chat(&self, project_id: i64, chat: &serde_json::Value) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO chats (project_id, chat_json) VALUES (?1, ?2)
                 ON CONFLICT(project_id) DO UPDATE SET chat_json = excluded.chat_json, updated_at = datetime('now')",
                params![project_id, chat.to_string()],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Saves cells under `name` in the project, replacing a selection of
    /// that name.
    pub fn save_selection(
        &self,
        project_id: i64,
        name: &str,
        cells: &[String],
    ) -> Result<Selection> {
        let cells_json = serde_json::to_string(cells).unwrap_or_else(|_| "[]".into());
        let id = self
            .conn
            .query_row(
                "INSERT INTO selections (project_id, name, cells_json) VALUES (?1, ?2, ?3)
                 ON CONFLICT(project_id, name) DO UPDATE SET cells_json = excluded.cells_json
                 RETURNING id, compared",
                params![project_id, name, cells_json],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())?;
        let (id, compared) = id;
        Ok(Selection {
            id,
            name: name.into(),
            cells: cells.to_vec(),
            compared,
        })
    }

    /// Puts a saved selection of the project in the comparison or takes it
    /// out (false: there is no such selection).
    pub fn set_selection_compared(&self, project_id: i64, id: i64, compared: bool) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE selections SET compared = ?3 WHERE project_id = ?1 AND id = ?2",
                params![project_id, id, compared],
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// The project's saved selections, oldest first.
    pub fn selections(&self, project_id: i64) -> Result<Vec<Selection>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, name, cells_json, compared FROM selections WHERE project_id = ?1 ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([project_id], |r| {
                let cells: String = r.get(2)?;
                Ok(Selection {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    cells: serde_json::from_str(&cells).unwrap_or_default(),
                    compared: r.get(3)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(self.err())
    }

    /// Forgets a saved selection of the project (false: there was none).
    pub fn delete_selection(&self, project_id: i64, id: i64) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "DELETE FROM selections WHERE project_id = ?1 AND id = ?2",
                params![project_id, id],
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// Most recently opened first.
    pub fn recent_projects(&self, limit: usize) -> Result<Vec<Project>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, name, source_path, folder, opened_at FROM projects
                 ORDER BY opened_at DESC, id DESC LIMIT ?1",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([limit as i64], project_row)
            .map_err(self.err())?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(self.err())
    }

    pub fn add_dataset(
        &self,
        project_id: i64,
        folder: &Path,
        options: &serde_json::Value,
        summary: &serde_json::Value,
    ) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO datasets (project_id, folder, options_json, summary_json) VALUES (?1, ?2, ?3, ?4)",
                params![project_id, folder.to_string_lossy(), options.to_string(), summary.to_string()],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn datasets(&self, project_id: i64) -> Result<Vec<DatasetRow>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, project_id, folder, summary_json, created_at FROM datasets
                 WHERE project_id = ?1 ORDER BY id DESC",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([project_id], |r| {
                Ok(DatasetRow {
                    id: r.get(0)?,
                    project_id: r.get(1)?,
                    folder: r.get(2)?,
                    summary: json(r.get(3)?).unwrap_or_default(),
                    created_at: r.get(4)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(self.err())
    }

    pub fn add_run(
        &self,
        project_id: i64,
        dataset_id: Option<i64>,
        folder: &Path,
        request: &serde_json::Value,
    ) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO runs (project_id, dataset_id, folder, request_json, status) VALUES (?1, ?2, ?3, ?4, 'running')",
                params![project_id, dataset_id, folder.to_string_lossy(), request.to_string()],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn set_run_progress(&self, id: i64, step: usize, total: usize) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET step = ?1, total_steps = ?2, updated_at = datetime('now') WHERE id = ?3",
                params![step as i64, total as i64, id],
            )
            .map_err(self.err())?;
        Ok(())
    }

    pub fn set_run_status(
        &self,
        id: i64,
        status: &str,
        summary: Option<&serde_json::Value>,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET status = ?1, summary_json = COALESCE(?2, summary_json), updated_at = datetime('now') WHERE id = ?3",
                params![status, summary.map(|s| s.to_string()), id],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Runs left `running` by an app that closed or crashed become
    /// `interrupted`, so the app can offer to resume them.
    pub fn mark_interrupted(&self) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE runs SET status = 'interrupted' WHERE status = 'running'",
                [],
            )
            .map_err(self.err())
    }

    pub fn run(&self, id: i64) -> Result<RunRow> {
        self.runs_where("id = ?1", id)?
            .pop()
            .ok_or(StoreError::Missing("run", id))
    }

    pub fn runs(&self, project_id: i64) -> Result<Vec<RunRow>> {
        self.runs_where("project_id = ?1", project_id)
    }

    /// Runs that ran to the end, any project, latest first.
    pub fn finished_runs(&self) -> Result<Vec<RunRow>> {
        self.runs_where("status = 'finished' AND ?1 = ?1", 0)
    }

    /// Runs that stopped before the end (paused or interrupted), any project.
    pub fn resumable_runs(&self) -> Result<Vec<RunRow>> {
        self.runs_where("status IN ('paused', 'interrupted') AND ?1 = ?1", 0)
    }

    fn runs_where(&self, cond: &str, arg: i64) -> Result<Vec<RunRow>> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT id, project_id, dataset_id, folder, request_json, status, step, total_steps,
                        summary_json, updated_at FROM runs WHERE {cond} ORDER BY id DESC"
            ))
            .map_err(self.err())?;
        let rows = st
            .query_map([arg], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    project_id: r.get(1)?,
                    dataset_id: r.get(2)?,
                    folder: r.get(3)?,
                    request: json(r.get(4)?).unwrap_or_default(),
                    status: r.get(5)?,
                    step: r.get(6)?,
                    total_steps: r.get(7)?,
                    summary: json(r.get(8)?),
                    updated_at: r.get(9)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(self.err())
    }

    pub fn add_artefact(
        &self,
        project_id: i64,
        kind: &str,
        path: &Path,
        meta: Option<&serde_json::Value>,
    ) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO artefacts (project_id, kind, path, meta_json) VALUES (?1, ?2, ?3, ?4)",
                params![
                    project_id,
                    kind,
                    path.to_string_lossy(),
                    meta.map(|m| m.to_string())
                ],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Adds the artefact unless the project has one of this kind already (a
    /// file that grows, such as the cells added to the comparison).
    pub fn add_artefact_once(&self, project_id: i64, kind: &str, path: &Path) -> Result<()> {
        if self.artefacts(project_id, kind)?.is_empty() {
            self.add_artefact(project_id, kind, path, None)?;
        }
        Ok(())
    }

    pub fn artefacts(&self, project_id: i64, kind: &str) -> Result<Vec<Artefact>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, kind, path, meta_json, created_at FROM artefacts
                 WHERE project_id = ?1 AND kind = ?2 ORDER BY id DESC",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map(params![project_id, kind], |r| {
                Ok(Artefact {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    path: r.get(2)?,
                    meta: json(r.get(3)?),
                    created_at: r.get(4)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_are_saved_by_name_per_project_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("studio.sqlite");
        let folder = |id: i64| dir.path().join(id.to_string());
        let s = Store::open(&db).unwrap();
        let a = s
            .open_project(Path::new("/data/a.h5ad"), "a", folder)
            .unwrap();
        let b = s
            .open_project(Path::new("/data/b.h5ad"), "b", folder)
            .unwrap();
        let cells = |v: &[&str]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let first = s
            .save_selection(a.id, "odd cluster", &cells(&["c1", "c7"]))
            .unwrap();
        s.save_selection(b.id, "odd cluster", &cells(&["x"]))
            .unwrap();
        // The same name replaces the cells and keeps the id.
        let again = s
            .save_selection(a.id, "odd cluster", &cells(&["c2"]))
            .unwrap();
        assert_eq!(again.id, first.id);
        s.save_selection(a.id, "T cells?", &cells(&["c3", "c4", "c5"]))
            .unwrap();
        drop(s);
        let s = Store::open(&db).unwrap();
        let got = s.selections(a.id).unwrap();
        assert_eq!(
            got.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            ["odd cluster", "T cells?"]
        );
        assert_eq!(got[0].cells, cells(&["c2"]));
        assert_eq!(s.selections(b.id).unwrap()[0].cells, cells(&["x"]));
        assert!(
            !s.delete_selection(b.id, got[0].id).unwrap(),
            "another project's selection"
        );
        assert!(s.delete_selection(a.id, got[0].id).unwrap());
        assert_eq!(s.selections(a.id).unwrap().len(), 1);
    }

    #[test]
    fn a_selection_put_in_the_comparison_stays_there_until_taken_out() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("studio.sqlite");
        let s = Store::open(&db).unwrap();
        let a = s
            .open_project(Path::new("/data/a.h5ad"), "a", |id| {
                dir.path().join(id.to_string())
            })
            .unwrap();
        let sel = s.save_selection(a.id, "mine", &["c1".into()]).unwrap();
        assert!(!sel.compared, "a new selection is not compared");
        assert!(s.set_selection_compared(a.id, sel.id, true).unwrap());
        assert!(
            !s.set_selection_compared(a.id + 1, sel.id, true).unwrap(),
            "another project's"
        );
        // Saving the name again replaces the cells, keeping it compared.
        assert!(
            s.save_selection(a.id, "mine", &["c2".into()])
                .unwrap()
                .compared
        );
        drop(s);
        let s = Store::open(&db).unwrap();
        assert!(s.selections(a.id).unwrap()[0].compared);
        assert!(s.set_selection_compared(a.id, sel.id, false).unwrap());
        assert!(!s.selections(a.id).unwrap()[0].compared);
    }

    #[test]
    fn migrates_once_and_keeps_projects_runs_and_artefacts() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("studio.sqlite");
        let s = Store::open(&db).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len());
        let p = s
            .open_project(Path::new("/data/a.h5ad"), "a", |id| {
                dir.path().join(id.to_string())
            })
            .unwrap();
        assert!(p.folder.ends_with(&p.id.to_string()));
        // A project cut short by a crash before this was one transaction
        // gets its folder on the next open.
        s.conn
            .execute(
                "INSERT INTO projects (name, source_path, folder) VALUES ('b', '/data/b.h5ad', '')",
                [],
            )
            .unwrap();
        let b = s
            .open_project(Path::new("/data/b.h5ad"), "b", |id| {
                dir.path().join(id.to_string())
            })
            .unwrap();
        assert!(!b.folder.is_empty() && b.folder.ends_with(&b.id.to_string()));
        // Opening the same file again finds the same project.
        let again = s
            .open_project(Path::new("/data/a.h5ad"), "a", |_| unreachable!())
            .unwrap();
        assert_eq!(again.id, p.id);
        let d = s
            .add_dataset(
                p.id,
                Path::new("/x/ds"),
                &serde_json::json!({}),
                &serde_json::json!({"cells": 3}),
            )
            .unwrap();
        assert_eq!(s.datasets(p.id).unwrap()[0].summary["cells"], 3);
        let r = s
            .add_run(
                p.id,
                Some(d),
                Path::new("/x/run"),
                &serde_json::json!({"preset": "quick"}),
            )
            .unwrap();
        s.set_run_progress(r, 5, 40).unwrap();
        drop(s);

        // A reopened store (the app restarted) sees the run as interrupted.
        let s = Store::open(&db).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len());
        assert_eq!(s.mark_interrupted().unwrap(), 1);
        let resumable = s.resumable_runs().unwrap();
        assert_eq!(resumable.len(), 1);
        assert_eq!((resumable[0].step, resumable[0].total_steps), (5, 40));
        assert_eq!(resumable[0].request["preset"], "quick");
        s.set_run_status(r, "finished", Some(&serde_json::json!({"steps": 40})))
            .unwrap();
        assert!(s.resumable_runs().unwrap().is_empty());
        assert_eq!(s.run(r).unwrap().summary.unwrap()["steps"], 40);
        // Finished runs calibrate the next estimates.
        let finished = s.finished_runs().unwrap();
        assert_eq!(finished.iter().map(|f| f.id).collect::<Vec<_>>(), vec![r]);
        s.add_artefact(p.id, "generated", Path::new("/x/g.jsonl"), None)
            .unwrap();
        assert_eq!(s.artefacts(p.id, "generated").unwrap().len(), 1);
        assert_eq!(s.recent_projects(10).unwrap().len(), 2);
        // A chat is kept per project, and replaced as it grows.
        assert_eq!(s.chat(p.id).unwrap(), None);
        s.save_chat(p.id, &serde_json::json!({"messages": [1]}))
            .unwrap();
        s.save_chat(p.id, &serde_json::json!({"messages": [1, 2]}))
            .unwrap();
        drop(s);
        let s = Store::open(&db).unwrap();
        assert_eq!(
            s.chat(p.id).unwrap().unwrap()["messages"],
            serde_json::json!([1, 2])
        );
        assert_eq!(s.chat(b.id).unwrap(), None);
    }

    #[test]
    fn a_database_of_the_first_version_gains_the_chats_and_selections() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("studio.sqlite");
        let c = Connection::open(&db).unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.execute(
            "INSERT INTO projects (name, source_path, folder) VALUES ('a', '/data/a.h5ad', '/p/1')",
            [],
        )
        .unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        drop(c);
        let s = Store::open(&db).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len());
        assert_eq!(s.recent_projects(10).unwrap()[0].name, "a");
        s.save_chat(1, &serde_json::json!({"next": 2})).unwrap();
        assert_eq!(s.chat(1).unwrap().unwrap()["next"], 2);
        s.save_selection(1, "mine", &["c1".to_string()]).unwrap();
        assert_eq!(s.selections(1).unwrap()[0].cells, ["c1"]);
    }

    #[test]
    fn a_database_of_a_newer_version_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("studio.sqlite");
        drop(Store::open(&db).unwrap());
        let newer = MIGRATIONS.len() as i64 + 1;
        Connection::open(&db)
            .unwrap()
            .pragma_update(None, "user_version", newer)
            .unwrap();
        let err = Store::open(&db).err().unwrap().to_string();
        assert!(
            err.contains("newer C2S Studio") && err.contains("hint:"),
            "{err}"
        );
        let v: i64 = Connection::open(&db)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, newer);
    }
}
