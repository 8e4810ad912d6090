//! Broken inputs built from the real DeepFilterNet3 files: each must give the error that
//! names the file and the tensor, node or key — and random damage must never panic.
//!
//! The test edits ONNX files with its own minimal protobuf codec (below), independent of
//! the reader under test.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_models::archive::ModelFiles;
use sluice_models::dfn3::{ConfigError, Dfn3Weights};
use sluice_models::onnx::OnnxError;
use sluice_models::{Weight, WeightsError};

type Files = Vec<(&'static str, Vec<u8>)>;

/// The four files of the committed export, unpacked in memory.
fn real_files() -> Files {
    let bytes = std::fs::read(Dfn3Weights::bundled_path()).unwrap_or_else(|e| panic!("{e}"));
    let mut files = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    for entry in archive.entries().unwrap_or_else(|e| panic!("{e}")) {
        let mut entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let path = entry.path().unwrap_or_else(|e| panic!("{e}")).into_owned();
        let name = ["enc.onnx", "erb_dec.onnx", "df_dec.onnx", "config.ini"]
            .into_iter()
            .find(|n| path.file_name().is_some_and(|f| f == *n))
            .unwrap_or_else(|| panic!("unexpected entry {}", path.display()));
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap_or_else(|e| panic!("{e}"));
        files.push((name, data));
    }
    assert_eq!(files.len(), 4);
    files
}

fn with_file(mut files: Files, name: &str, edit: impl FnOnce(&[u8]) -> Vec<u8>) -> Files {
    let slot = files.iter_mut().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no {name}"));
    slot.1 = edit(&slot.1);
    files
}

fn load(files: Files) -> Result<Dfn3Weights, WeightsError> {
    Dfn3Weights::from_files(&ModelFiles::from_memory("<test>", files))
}

fn load_err(files: Files) -> WeightsError {
    match load(files) {
        Ok(_) => panic!("expected an error, loading succeeded"),
        Err(e) => e,
    }
}

fn tar_gz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, format!("tmp/export/{name}"), *data).unwrap_or_else(|e| panic!("{e}"));
    }
    let gz = builder.into_inner().unwrap_or_else(|e| panic!("{e}"));
    gz.finish().unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------- archive and files

#[test]
fn truncated_or_garbage_archives_are_archive_errors() {
    let bytes = std::fs::read(Dfn3Weights::bundled_path()).unwrap_or_else(|e| panic!("{e}"));
    // Half the file; and only the gzip trailer (CRC + length) missing.
    for cut in [bytes.len() / 2, bytes.len() - 4, 100] {
        match Dfn3Weights::from_bytes(&bytes[..cut]) {
            Err(WeightsError::Archive { .. }) => {}
            other => panic!("cut at {cut}: expected an Archive error, got {other:?}"),
        }
    }
    match Dfn3Weights::from_bytes(b"this is not a gzip file at all") {
        Err(WeightsError::Archive { .. }) => {}
        other => panic!("expected an Archive error, got {other:?}"),
    }
    // From a path, the message names the file.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("cut.tar.gz");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap_or_else(|e| panic!("{e}"));
    let err = Dfn3Weights::load(&path).err().unwrap_or_else(|| panic!("truncated archive loaded"));
    assert!(matches!(err, WeightsError::Archive { .. }), "{err:?}");
    assert!(err.to_string().contains("cut.tar.gz"), "{err}");
}

#[test]
fn archive_without_df_dec_names_the_missing_file() {
    let files = real_files();
    let kept: Vec<(&str, &[u8])> =
        files.iter().filter(|(n, _)| *n != "df_dec.onnx").map(|(n, d)| (*n, d.as_slice())).collect();
    let err = Dfn3Weights::from_bytes(&tar_gz(&kept)).err().unwrap_or_else(|| panic!("loaded without df_dec"));
    assert!(matches!(err, WeightsError::MissingFile { file: "df_dec.onnx", .. }), "{err:?}");
    assert!(err.to_string().contains("df_dec.onnx"), "{err}");

    // The same archive with all four files loads, so the writer above is not the cause.
    let all: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    let w = Dfn3Weights::from_bytes(&tar_gz(&all)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.params(), 2_134_641);

    // Two entries called enc.onnx (in different folders) are ambiguous.
    let mut dup = all.clone();
    dup.push(("enc.onnx", all[0].1));
    let err = Dfn3Weights::from_bytes(&tar_gz(&dup)).err().unwrap_or_else(|| panic!("loaded a duplicate"));
    assert!(matches!(err, WeightsError::DuplicateFile { file: "enc.onnx", .. }), "{err:?}");
}

#[test]
fn directory_without_df_dec_and_missing_path_are_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (name, data) in real_files() {
        if name != "df_dec.onnx" {
            std::fs::write(dir.path().join(name), data).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let err = Dfn3Weights::load(dir.path()).err().unwrap_or_else(|| panic!("loaded without df_dec"));
    assert!(matches!(err, WeightsError::MissingFile { file: "df_dec.onnx", .. }), "{err:?}");

    let missing = dir.path().join("nope.tar.gz");
    let err = Dfn3Weights::load(&missing).err().unwrap_or_else(|| panic!("loaded a missing path"));
    assert!(matches!(err, WeightsError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.tar.gz"), "{err}");
}

// ---------------------------------------------------------------- graph edits

#[test]
fn removed_initializer_names_file_node_and_tensor() {
    let files = with_file(real_files(), "erb_dec.onnx", |m| {
        edit_graph(m, |num, rec| keep_unless(num == 5 && name_of(rec, 8) == "onnx::Conv_310", rec))
    });
    let err = load_err(files);
    match &err {
        WeightsError::MissingTensor { file: "erb_dec.onnx", node, index: 2, tensor } => {
            assert_eq!(node, "/conv0_out/0/Conv");
            assert_eq!(tensor, "onnx::Conv_310");
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("erb_dec.onnx") && msg.contains("onnx::Conv_310") && msg.contains("/conv0_out/0/Conv"),
        "{msg}"
    );
}

#[test]
fn removed_gru_constant_node_is_a_missing_tensor() {
    let files = with_file(real_files(), "enc.onnx", |m| {
        edit_graph(m, |num, rec| keep_unless(num == 1 && name_of(rec, 3) == "/emb_gru/Constant_4", rec))
    });
    match load_err(files) {
        WeightsError::MissingTensor { file: "enc.onnx", node, index: 2, tensor } => {
            assert_eq!(node, "/emb_gru/GRU");
            assert_eq!(tensor, "/emb_gru/Constant_4_output_0");
        }
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn removed_node_is_named() {
    let files = with_file(real_files(), "df_dec.onnx", |m| {
        edit_graph(m, |num, rec| keep_unless(num == 1 && name_of(rec, 3) == "/df_skip/Einsum", rec))
    });
    match load_err(files) {
        WeightsError::MissingNode { file: "df_dec.onnx", node, op: "Einsum" } => assert_eq!(node, "/df_skip/Einsum"),
        other => panic!("expected MissingNode, got {other:?}"),
    }
}

#[test]
fn reshaped_tensor_reports_expected_and_found_shape() {
    let files = with_file(real_files(), "df_dec.onnx", |m| {
        edit_tensor(m, "df_convp.1.weight", |fields| set_dims(fields, &[10, 32, 1, 5]))
    });
    let err = load_err(files);
    match &err {
        WeightsError::Shape { file: "df_dec.onnx", tensor, node, index: 1, expected, found } => {
            assert_eq!(tensor, "df_convp.1.weight");
            assert_eq!(node, "/df_convp/df_convp.1/Conv");
            assert_eq!(expected, &[10, 32, 5, 1]);
            assert_eq!(found, &[10, 32, 1, 5]);
        }
        other => panic!("expected Shape, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("[10, 32, 5, 1]") && msg.contains("[10, 32, 1, 5]"), "{msg}");
}

#[test]
fn short_raw_data_and_non_float_types_are_tensor_data_errors() {
    let files = with_file(real_files(), "enc.onnx", |m| {
        edit_tensor(m, "lsnr_fc.0.bias", |fields| {
            fields.iter().map(|(n, r)| if *n == 9 { (9, Rec::Len(vec![0; 8])) } else { (*n, r.clone()) }).collect()
        })
    });
    match load_err(files) {
        WeightsError::TensorData { file: "enc.onnx", tensor, source, .. } => {
            assert_eq!(tensor, "lsnr_fc.0.bias");
            assert!(matches!(*source, OnnxError::DataLength { expected: 1, found: 2, .. }), "{source:?}");
        }
        other => panic!("expected TensorData, got {other:?}"),
    }

    let files = with_file(real_files(), "enc.onnx", |m| {
        edit_tensor(m, "onnx::Conv_283", |fields| {
            fields.iter().map(|(n, r)| if *n == 2 { (2, Rec::Varint(11)) } else { (*n, r.clone()) }).collect()
        })
    });
    match load_err(files) {
        WeightsError::TensorData { file: "enc.onnx", tensor, source, .. } => {
            assert_eq!(tensor, "onnx::Conv_283");
            assert!(matches!(*source, OnnxError::UnsupportedDataType { data_type: 11, name: "DOUBLE", .. }));
        }
        other => panic!("expected TensorData, got {other:?}"),
    }
}

#[test]
fn gru_without_linear_before_reset_is_rejected() {
    let files = with_file(real_files(), "df_dec.onnx", |m| {
        edit_graph(m, |num, rec| {
            if num != 1 || name_of(rec, 3) != "/df_gru/gru/GRU_1" {
                return Some(rec.clone());
            }
            Some(Rec::Len(map_fields(payload(rec), |n, attr| {
                if n == 5 && name_of(attr, 1) == "linear_before_reset" {
                    let edited =
                        map_fields(payload(attr), |f, v| Some(if f == 3 { Rec::Varint(0) } else { v.clone() }));
                    Some(Rec::Len(edited))
                } else {
                    Some(attr.clone())
                }
            })))
        })
    });
    match load_err(files) {
        WeightsError::Attribute { file: "df_dec.onnx", node, attribute: "linear_before_reset", expected, found } => {
            assert_eq!(node, "/df_gru/gru/GRU_1");
            assert_eq!((expected.as_str(), found.as_str()), ("1", "0"));
        }
        other => panic!("expected Attribute, got {other:?}"),
    }
}

#[test]
fn truncated_onnx_file_is_an_onnx_error_naming_the_file() {
    let files = with_file(real_files(), "enc.onnx", |m| m[..m.len() / 2].to_vec());
    let err = load_err(files);
    assert!(
        matches!(&err, WeightsError::Onnx { file: "enc.onnx", source } if matches!(**source, OnnxError::Truncated { .. })),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("enc.onnx: truncated"), "{err}");
}

// ---------------------------------------------------------------- config

fn with_config(edit: impl FnOnce(&str) -> String) -> Files {
    with_file(real_files(), "config.ini", |c| {
        edit(std::str::from_utf8(c).unwrap_or_else(|e| panic!("{e}"))).into_bytes()
    })
}

fn config_err(files: Files) -> ConfigError {
    match load_err(files) {
        WeightsError::Config { file: "config.ini", source } => source,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn bad_config_values_name_the_key() {
    let e = config_err(with_config(|c| c.replace("nb_erb = 32", "nb_erb = 30")));
    assert!(matches!(e, ConfigError::Unsupported { key: "df.nb_erb", .. }), "{e:?}");

    let e = config_err(with_config(|c| c.replace("nb_df = 96", "nb_df = ninety-six")));
    assert!(matches!(&e, ConfigError::BadValue { key: "df.nb_df", value, .. } if value == "ninety-six"), "{e:?}");

    let e = config_err(with_config(|c| c.replace("conv_ch = 64\n", "")));
    assert_eq!(e, ConfigError::MissingKey { key: "deepfilternet.conv_ch" });

    let e = config_err(with_config(|c| c.replace("hop_size = 480", "hop_size = 240")));
    assert!(matches!(e, ConfigError::Unsupported { key: "df.hop_size", .. }), "{e:?}");

    let e = config_err(with_config(|c| c.replace("dfop_method = df", "dfop_method = real_unfold")));
    assert!(matches!(e, ConfigError::Unsupported { key: "deepfilternet.dfop_method", .. }), "{e:?}");

    let e = config_err(with_config(|c| c.replace("mask_pf = False", "mask_pf = maybe")));
    assert!(matches!(e, ConfigError::BadValue { key: "deepfilternet.mask_pf", .. }), "{e:?}");

    let e = config_err(with_config(|c| c.replace("lsnr_min = -15", "lsnr_min = 40")));
    assert!(matches!(e, ConfigError::Unsupported { key: "df.lsnr_max", .. }), "{e:?}");

    let e = config_err(with_config(|c| c.replace("[df]", "[df]\nsr = 44100")));
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");

    let msg = WeightsError::Config { file: "config.ini", source: ConfigError::MissingKey { key: "df.sr" } }.to_string();
    assert_eq!(msg, "config.ini: missing key df.sr");
}

#[test]
fn valid_config_that_disagrees_with_the_graphs_is_a_shape_error() {
    // conv_ch = 32 is a consistent config, but the weights have 64 channels.
    match load_err(with_config(|c| c.replace("conv_ch = 64", "conv_ch = 32"))) {
        WeightsError::Shape { file: "enc.onnx", node, expected, found, .. } => {
            assert_eq!(node, "/erb_conv0/1/Conv");
            assert_eq!((expected, found), (vec![32, 1, 3, 3], vec![64, 1, 3, 3]));
        }
        other => panic!("expected Shape, got {other:?}"),
    }
    // mask_pf is a runtime default, not a shape: flipping it still loads.
    let w = load(with_config(|c| c.replace("mask_pf = False", "mask_pf = True"))).unwrap_or_else(|e| panic!("{e}"));
    assert!(w.config.mask_pf);
}

// ---------------------------------------------------------------- random damage

/// Byte offsets of `buf` that are protobuf structure (tags, lengths, names, dims), not
/// `raw_data` payload: flips there exercise the decoder rather than just change a weight.
fn structural_offsets(model: &[u8]) -> Vec<usize> {
    let mut data = vec![false; model.len()];
    // ModelProto.graph(7) → GraphProto.initializer(5) | node(1) → attribute(5) → t(5); raw_data = 9.
    for (num, rec, at) in parse(model) {
        if num != 7 {
            continue;
        }
        for (gnum, grec, gat) in parse(payload(&rec)) {
            let base = at + gat;
            let tensors: Vec<(Rec, usize)> = match gnum {
                5 => vec![(grec, base)],
                1 => parse(payload(&grec))
                    .into_iter()
                    .filter(|(n, _, _)| *n == 5)
                    .flat_map(|(_, attr, aat)| {
                        parse(payload(&attr))
                            .into_iter()
                            .filter(|(n, _, _)| *n == 5)
                            .map(move |(_, t, tat)| (t, base + aat + tat))
                    })
                    .collect(),
                _ => vec![],
            };
            for (t, tat) in tensors {
                for (tnum, trec, rat) in parse(payload(&t)) {
                    if tnum == 9 {
                        let start = tat + rat;
                        data[start..start + payload(&trec).len()].iter_mut().for_each(|d| *d = true);
                    }
                }
            }
        }
    }
    (0..model.len()).filter(|&i| !data[i]).collect()
}

#[test]
fn random_truncations_always_fail_and_bit_flips_never_panic() {
    let files = real_files();
    let onnx = ["enc.onnx", "erb_dec.onnx", "df_dec.onnx"];
    let structure: Vec<Vec<usize>> = onnx
        .iter()
        .map(|n| structural_offsets(&files.iter().find(|(f, _)| f == n).unwrap_or_else(|| panic!("{n}")).1))
        .collect();
    for s in &structure {
        assert!(s.len() > 1000, "structure map found only {} bytes", s.len());
    }
    let mut rng = StdRng::seed_from_u64(0x5eed_df03);

    for case in 0..250 {
        let which = rng.random_range(0..onnx.len());
        let mut cut_at = 0;
        let damaged = with_file(files.clone(), onnx[which], |m| {
            cut_at = rng.random_range(0..m.len());
            m[..cut_at].to_vec()
        });
        assert!(load(damaged).is_err(), "case {case}: {} cut at {cut_at} loaded", onnx[which]);
    }

    let (mut failed, mut loaded) = (0, 0);
    for case in 0..300 {
        let which = rng.random_range(0..onnx.len());
        let flips = rng.random_range(1..=4);
        let damaged = with_file(files.clone(), onnx[which], |m| {
            let mut m = m.to_vec();
            for _ in 0..flips {
                // Mostly structure; sometimes anywhere (then usually a weight value).
                let at = if case % 4 == 3 {
                    rng.random_range(0..m.len())
                } else {
                    structure[which][rng.random_range(0..structure[which].len())]
                };
                m[at] ^= 1 << rng.random_range(0..8);
            }
            m
        });
        match load(damaged) {
            Ok(w) => {
                // Whatever loaded still has the architecture's shapes.
                assert_eq!(w.params(), 2_134_641, "case {case}");
                loaded += 1;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                failed += 1;
            }
        }
    }
    eprintln!("bit flips: {failed} failed, {loaded} loaded");
    // Both outcomes occur, so the flips reach the decoder and are not all caught up front.
    assert!(failed > 50 && loaded > 10, "{failed} failed, {loaded} loaded");
}

// ---------------------------------------------------------------- minimal protobuf codec

#[derive(Clone, Debug)]
enum Rec {
    Varint(u64),
    Fixed64([u8; 8]),
    Len(Vec<u8>),
    Fixed32([u8; 4]),
}

fn read_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Fields of a (valid) message: number, value, and where the value's payload starts.
fn parse(buf: &[u8]) -> Vec<(u32, Rec, usize)> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let tag = read_varint(buf, &mut pos);
        let num = (tag >> 3) as u32;
        let (rec, start) = match tag & 7 {
            0 => {
                let start = pos;
                (Rec::Varint(read_varint(buf, &mut pos)), start)
            }
            1 => {
                pos += 8;
                (Rec::Fixed64(buf[pos - 8..pos].try_into().unwrap_or_else(|e| panic!("{e}"))), pos - 8)
            }
            2 => {
                let len = read_varint(buf, &mut pos) as usize;
                pos += len;
                (Rec::Len(buf[pos - len..pos].to_vec()), pos - len)
            }
            5 => {
                pos += 4;
                (Rec::Fixed32(buf[pos - 4..pos].try_into().unwrap_or_else(|e| panic!("{e}"))), pos - 4)
            }
            w => panic!("wire type {w} in a real file"),
        };
        out.push((num, rec, start));
    }
    out
}

fn encode(fields: &[(u32, Rec)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (num, rec) in fields {
        let wire = match rec {
            Rec::Varint(_) => 0,
            Rec::Fixed64(_) => 1,
            Rec::Len(_) => 2,
            Rec::Fixed32(_) => 5,
        };
        write_varint(u64::from(*num) << 3 | wire, &mut out);
        match rec {
            Rec::Varint(v) => write_varint(*v, &mut out),
            Rec::Fixed64(b) => out.extend_from_slice(b),
            Rec::Len(b) => {
                write_varint(b.len() as u64, &mut out);
                out.extend_from_slice(b);
            }
            Rec::Fixed32(b) => out.extend_from_slice(b),
        }
    }
    out
}

fn payload(rec: &Rec) -> &[u8] {
    match rec {
        Rec::Len(b) => b,
        other => panic!("not a length-delimited field: {other:?}"),
    }
}

/// The string field `num` of a sub-message record ("" if absent).
fn name_of(rec: &Rec, num: u32) -> String {
    let Rec::Len(b) = rec else { return String::new() };
    parse(b)
        .into_iter()
        .find(|(n, _, _)| *n == num)
        .map(|(_, r, _)| String::from_utf8_lossy(payload(&r)).into_owned())
        .unwrap_or_default()
}

fn keep_unless(drop: bool, rec: &Rec) -> Option<Rec> {
    (!drop).then(|| rec.clone())
}

/// Re-encodes a message with each field mapped (`None` drops it).
fn map_fields(msg: &[u8], mut f: impl FnMut(u32, &Rec) -> Option<Rec>) -> Vec<u8> {
    let fields: Vec<(u32, Rec)> = parse(msg).into_iter().filter_map(|(n, r, _)| f(n, &r).map(|r| (n, r))).collect();
    encode(&fields)
}

/// Re-encodes a model with its graph's fields mapped.
fn edit_graph(model: &[u8], mut f: impl FnMut(u32, &Rec) -> Option<Rec>) -> Vec<u8> {
    map_fields(model, |num, rec| Some(if num == 7 { Rec::Len(map_fields(payload(rec), &mut f)) } else { rec.clone() }))
}

/// Re-encodes a model with the fields of initializer `name` replaced.
fn edit_tensor(model: &[u8], name: &str, f: impl Fn(&[(u32, Rec)]) -> Vec<(u32, Rec)>) -> Vec<u8> {
    let mut hit = false;
    let out = edit_graph(model, |num, rec| {
        if num == 5 && name_of(rec, 8) == name {
            hit = true;
            let fields: Vec<(u32, Rec)> = parse(payload(rec)).into_iter().map(|(n, r, _)| (n, r)).collect();
            Some(Rec::Len(encode(&f(&fields))))
        } else {
            Some(rec.clone())
        }
    });
    assert!(hit, "no initializer {name}");
    out
}

fn set_dims(fields: &[(u32, Rec)], dims: &[u64]) -> Vec<(u32, Rec)> {
    let mut out: Vec<(u32, Rec)> = fields.iter().filter(|(n, _)| *n != 1).cloned().collect();
    out.extend(dims.iter().map(|&d| (1, Rec::Varint(d))));
    out
}

#[test]
fn the_test_codec_round_trips_the_real_files() {
    for (name, data) in real_files().into_iter().filter(|(n, _)| n.ends_with(".onnx")) {
        assert_eq!(map_fields(&data, |_, r| Some(r.clone())), data, "{name}");
    }
    // And the weights are unchanged by an identity edit through it.
    let w = load(with_file(real_files(), "df_dec.onnx", |m| edit_tensor(m, "df_out.0.weight", |f| f.to_vec())))
        .unwrap_or_else(|e| panic!("{e}"));
    let _: &Weight = &w.df_dec.df_out;
    assert_eq!(w.params(), 2_134_641);
}
