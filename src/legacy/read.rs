//! Reading the export's CSV files: UTF-8 with or without a byte-order mark,
//! RFC 4180 quoting, columns found by header name in any order.

use std::{path::Path, sync::Arc};

use serde_json::{Map, Value};

use super::ImportError;

/// One CSV file.
pub struct Table {
    /// The file's name without `.csv` (`contact`).
    pub name: &'static str,
    /// Its rows, in file order.
    pub rows: Vec<Row>,
}

/// One row: its file's header, shared by every row, and its values as
/// written.
#[derive(Debug, Clone)]
pub struct Row {
    headers: Arc<[String]>,
    values: Vec<String>,
    /// Set when the row had another number of fields than the header.
    pub malformed: Option<String>,
}

impl Row {
    /// The trimmed value of a column, `None` when absent or empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        let at = self.headers.iter().position(|name| name == column)?;
        self.values
            .get(at)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A row as stored by an earlier import (`legacy_rows.row_values`).
    pub fn from_json(value: &Value) -> Option<Row> {
        let object = value.as_object()?;
        Some(Row {
            headers: object.keys().cloned().collect(),
            values: (object.values())
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect(),
            malformed: None,
        })
    }

    /// The row in full, as written, for the report and for submissions.
    pub fn to_json(&self) -> Value {
        let map: Map<String, Value> = (self.headers.iter().zip(&self.values))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Value::Object(map)
    }
}

/// Reads `<dir>/<name>.csv` whole (a small file, or one partition of a
/// large one).
pub fn read(dir: &Path, name: &'static str) -> Result<Table, ImportError> {
    let mut records = records(dir, name)?;
    let headers = records.headers.clone();
    let mut rows = Vec::new();
    for record in records.by_ref() {
        rows.push(Row::new(&headers, &record?));
    }
    Ok(Table::new(name, rows, id_column(name)))
}

/// A file's header and its raw records, read one at a time.
pub struct Records {
    /// The header, trimmed, without a byte-order mark.
    pub headers: Arc<[String]>,
    path: String,
    records: csv::StringRecordsIntoIter<std::io::BufReader<std::fs::File>>,
}

impl Iterator for Records {
    type Item = Result<csv::StringRecord, ImportError>;

    fn next(&mut self) -> Option<Self::Item> {
        let record = self.records.next()?;
        Some(record.map_err(|e| ImportError::Read(self.path.clone(), e.to_string())))
    }
}

/// The raw records of `<dir>/<name>.csv`, one at a time, with its header:
/// the file is never held whole in memory.
pub fn records(dir: &Path, name: &str) -> Result<Records, ImportError> {
    let path = dir.join(format!("{name}.csv"));
    let shown = path.display().to_string();
    let failed = move |e: &dyn std::fmt::Display| ImportError::Read(shown.clone(), e.to_string());
    let file = std::fs::File::open(&path).map_err(|e| failed(&e))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(std::io::BufReader::with_capacity(1 << 16, file));
    let headers: Arc<[String]> = (reader.headers().map_err(|e| failed(&e))?.iter())
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    Ok(Records {
        headers,
        path: path.display().to_string(),
        records: reader.into_records(),
    })
}

impl Row {
    /// A row of a file with `headers`, as the record has it: a record with
    /// another number of fields than the header is marked malformed.
    pub fn new(headers: &Arc<[String]>, record: &csv::StringRecord) -> Row {
        let malformed = (record.len() != headers.len()).then(|| {
            format!(
                "has {} fields where the header has {}",
                record.len(),
                headers.len()
            )
        });
        let values = record
            .iter()
            .take(headers.len())
            .map(str::to_owned)
            .collect();
        Row {
            headers: headers.clone(),
            values,
            malformed,
        }
    }
}

/// The id column of an export file.
pub fn id_column(name: &str) -> &'static str {
    match name {
        "medical_condition" => "medical_condition_id",
        "hospital" => "hospital_id",
        "specialization" => "specialization_id",
        "contact" => "contactid",
        "patient" => "patientid",
        _ => "eap_dossier_id",
    }
}

impl Table {
    /// A table of `rows`, ordered by their id: what the import makes of a
    /// row must not depend on where the CRM happened to write it (rule 15).
    pub fn new(name: &'static str, mut rows: Vec<Row>, id: &str) -> Table {
        rows.sort_by(|a, b| a.get(id).cmp(&b.get(id)));
        Table { name, rows }
    }

    /// The id of a row of this table.
    pub fn id_of<'r>(&self, row: &'r Row) -> &'r str {
        row.get(id_column(self.name)).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_quotes_and_column_order_are_handled() {
        let dir = std::env::temp_dir().join(format!("nav-read-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("hospital.csv"),
            "\u{feff}city,hospital_id,name\n\"Den Haag\",h1,\"St. Anna, \"\"Oost\"\"\"\n",
        )
        .unwrap();
        let table = read(&dir, "hospital").unwrap();
        assert_eq!(table.rows[0].get("name"), Some("St. Anna, \"Oost\""));
        assert_eq!(table.rows[0].get("hospital_id"), Some("h1"));
        assert!(table.rows[0].malformed.is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
