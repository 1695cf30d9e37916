//! Fuzzes the WAL record decoder (`levee::tsdb::record::decode`, the
//! payloads of WAL and checkpoint frames, `docs/format/record.md`) with
//! any bytes. Checks that nothing panics, and that a record that decodes
//! re-encodes to bytes that decode to the same record and that encoding
//! those again gives the very same bytes (the encoder is a fixpoint; the
//! input itself may use longer varints or another base, so it is not
//! compared byte for byte). The typed decoders must agree with `decode`.

#![no_main]

use levee::tsdb::record::{self, Record, RecordError, RecordType};
use libfuzzer_sys::fuzz_target;

fn encode(rec: &Record) -> Vec<u8> {
    let mut buf = Vec::new();
    record::encode(rec, &mut buf);
    buf
}

fuzz_target!(|data: &[u8]| {
    let decoded = record::decode(data);
    // The typed entry points give the same answer as `decode`, or a
    // wrong-type error.
    let mut series = Vec::new();
    let mut samples = Vec::new();
    let as_series = record::decode_series(data, &mut series);
    let as_samples = record::decode_samples(data, &mut samples);
    match (&decoded, record::record_type(data)) {
        (Ok(Record::Series(s)), Ok(RecordType::Series)) => {
            assert!(as_series.is_ok());
            assert_eq!(&series, s);
            assert!(matches!(as_samples, Err(RecordError::WrongType { .. })));
        }
        (Ok(Record::Samples(s)), Ok(RecordType::Samples)) => {
            assert!(as_samples.is_ok());
            assert_eq!(&samples, s);
            assert!(matches!(as_series, Err(RecordError::WrongType { .. })));
        }
        (Err(e), _) => {
            // Something readable for the corruption report.
            let _ = e.to_string();
            assert!(as_series.is_err() && as_samples.is_err());
            return;
        }
        (Ok(_), ty) => panic!("decode and record_type disagree: {ty:?}"),
    }
    let Ok(rec) = decoded else { return };
    let bytes = encode(&rec);
    let again = record::decode(&bytes).expect("a record levee encoded decodes");
    assert_eq!(again, rec, "re-encoded record decodes differently");
    assert_eq!(encode(&again), bytes, "encoding is not a fixpoint");
});
