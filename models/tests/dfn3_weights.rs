//! Loading the committed official DeepFilterNet3 export: every tensor with the shape of
//! spec `dfn3.md` §2.6, the spec's parameter totals, values that only a correct decoder
//! produces, and the config of §1.1.

use std::path::Path;

use sluice_models::Weight;
use sluice_models::dfn3::{Dfn3Config, Dfn3Weights};

fn bundled() -> Dfn3Weights {
    Dfn3Weights::bundled().unwrap_or_else(|e| panic!("loading the bundled DFN3 weights: {e}"))
}

fn shape(w: &Weight, expected: &[usize], what: &str) {
    assert_eq!(w.shape(), expected, "{what}");
    assert_eq!(w.len(), expected.iter().product::<usize>(), "{what}");
}

/// First element, last element and Σ|x| (in f64), against values printed by the `onnx`
/// Python package (numpy_helper.to_array) from the same files.
fn fingerprint(w: &Weight, first: f32, last: f32, sum_abs: f64, what: &str) {
    let d = w.data();
    assert_eq!(d[0], first, "{what} first element");
    assert_eq!(d[d.len() - 1], last, "{what} last element");
    let s: f64 = d.iter().map(|&x| f64::from(x).abs()).sum();
    assert!((s - sum_abs).abs() < 1e-6 * sum_abs, "{what}: Σ|x| = {s}, expected {sum_abs}");
}

#[test]
fn encoder_tensors_have_the_spec_shapes() {
    let e = bundled().enc;
    shape(&e.erb_conv0.weight, &[64, 1, 3, 3], "erb_conv0 weight (onnx::Conv_282)");
    shape(&e.erb_conv0.bias, &[64], "erb_conv0 bias (onnx::Conv_283)");
    for (name, c) in [
        ("erb_conv1", &e.erb_conv1),
        ("erb_conv2", &e.erb_conv2),
        ("erb_conv3", &e.erb_conv3),
        ("df_conv1", &e.df_conv1),
    ] {
        shape(&c.spatial, &[64, 1, 1, 3], &format!("{name} depthwise"));
        shape(&c.pointwise, &[64, 64, 1, 1], &format!("{name} pointwise"));
        shape(&c.bias, &[64], &format!("{name} bias"));
    }
    shape(&e.df_conv0.spatial, &[64, 1, 3, 3], "df_conv0 grouped");
    shape(&e.df_conv0.pointwise, &[64, 64, 1, 1], "df_conv0 pointwise");
    shape(&e.df_conv0.bias, &[64], "df_conv0 bias");
    shape(&e.df_fc_emb, &[32, 96, 16], "df_fc_emb");
    shape(&e.emb_gru_linear_in, &[16, 32, 16], "emb_gru.linear_in");
    shape(&e.emb_gru.w, &[1, 768, 256], "emb_gru W");
    shape(&e.emb_gru.r, &[1, 768, 256], "emb_gru R");
    shape(&e.emb_gru.b, &[1, 1536], "emb_gru B");
    shape(&e.emb_gru_linear_out, &[16, 16, 32], "emb_gru.linear_out");
    shape(&e.lsnr_fc.weight, &[512, 1], "lsnr_fc weight");
    shape(&e.lsnr_fc.bias, &[1], "lsnr_fc bias");
}

#[test]
fn erb_decoder_tensors_have_the_spec_shapes() {
    let d = bundled().erb_dec;
    shape(&d.emb_gru_linear_in, &[16, 32, 16], "emb_gru.linear_in");
    shape(&d.emb_gru_linear_out, &[16, 16, 32], "emb_gru.linear_out");
    assert_eq!(d.emb_gru.len(), 2, "ERB decoder GRU layers");
    for (i, g) in d.emb_gru.iter().enumerate() {
        shape(&g.w, &[1, 768, 256], &format!("GRU {i} W"));
        shape(&g.r, &[1, 768, 256], &format!("GRU {i} R"));
        shape(&g.b, &[1, 1536], &format!("GRU {i} B"));
    }
    for (name, c) in [("conv3p", &d.conv3p), ("conv2p", &d.conv2p), ("conv1p", &d.conv1p), ("conv0p", &d.conv0p)] {
        shape(&c.weight, &[64, 1, 1, 1], &format!("{name} weight"));
        shape(&c.bias, &[64], &format!("{name} bias"));
    }
    for (name, c) in [("convt3", &d.convt3), ("convt2", &d.convt2), ("convt1", &d.convt1)] {
        shape(&c.spatial, &[64, 1, 1, 3], &format!("{name} depthwise"));
        shape(&c.pointwise, &[64, 64, 1, 1], &format!("{name} pointwise"));
        shape(&c.bias, &[64], &format!("{name} bias"));
    }
    shape(&d.conv0_out.weight, &[1, 64, 1, 3], "conv0_out weight");
    shape(&d.conv0_out.bias, &[1], "conv0_out bias");
}

#[test]
fn df_decoder_tensors_have_the_spec_shapes() {
    let d = bundled().df_dec;
    shape(&d.df_gru_linear_in, &[8, 64, 32], "df_gru.linear_in");
    assert_eq!(d.df_gru.len(), 2, "DF decoder GRU layers");
    for (i, g) in d.df_gru.iter().enumerate() {
        shape(&g.w, &[1, 768, 256], &format!("GRU {i} W"));
        shape(&g.r, &[1, 768, 256], &format!("GRU {i} R"));
        shape(&g.b, &[1, 1536], &format!("GRU {i} B"));
    }
    shape(&d.df_skip, &[16, 32, 16], "df_skip");
    shape(&d.df_out, &[16, 16, 60], "df_out");
    shape(&d.df_convp.spatial, &[10, 32, 5, 1], "df_convp grouped");
    shape(&d.df_convp.pointwise, &[10, 10, 1, 1], "df_convp pointwise");
    shape(&d.df_convp.bias, &[10], "df_convp bias");
    shape(&d.df_fc_a.weight, &[256, 1], "df_fc_a weight");
    shape(&d.df_fc_a.bias, &[1], "df_fc_a bias");
}

#[test]
fn parameter_totals_match_the_spec() {
    let w = bundled();
    assert_eq!(w.enc.params(), 483_585);
    assert_eq!(w.erb_dec.params(), 819_649);
    assert_eq!(w.df_dec.params(), 831_407);
    assert_eq!(w.params(), 2_134_641);
    let gru: usize = std::iter::once(&w.enc.emb_gru)
        .chain(&w.erb_dec.emb_gru)
        .chain(&w.df_dec.df_gru)
        .map(|g| g.w.len() + g.r.len() + g.b.len())
        .sum();
    assert_eq!(gru, 5 * 394_752, "GRU parameters (spec: 1,973,760)");
}

#[test]
fn spot_values_prove_the_decoding() {
    let w = bundled();
    // Spec §2.4 / §2.6: conv0_out bias −1.0576, lsnr_fc bias −0.29988.
    assert_eq!(w.erb_dec.conv0_out.bias.data(), &[-1.057_594_8_f32]);
    assert_eq!(w.enc.lsnr_fc.bias.data(), &[-0.299_882_47_f32]);
    assert_eq!(w.df_dec.df_fc_a.bias.data(), &[-0.030_167_922_f32]);

    // GRU weights from Constant nodes (enc, erb_dec) and initializers (df_dec).
    fingerprint(&w.enc.emb_gru.w, 0.327_184_4, -0.095_655_57, 15_078.944_3, "enc /emb_gru/Constant_3");
    fingerprint(&w.enc.emb_gru.b, 0.042_020_224, 0.025_146_004, 119.049_114, "enc /emb_gru/Constant_5");
    fingerprint(&w.erb_dec.emb_gru[1].r, 0.187_068_42, -0.378_720_13, 14_868.511_8, "erb_dec /emb_gru/Constant_10");
    fingerprint(&w.df_dec.df_gru[1].b, -0.128_930_03, -0.000_238_447_29, 409.581_852, "df_dec onnx::GRU_313");

    // `onnx::Conv_288` names different tensors in enc (erb_conv2 PW) and erb_dec (conv3p).
    fingerprint(&w.enc.erb_conv2.pointwise, -0.546_186_6, -0.027_575_13, 4_879.852_96, "enc onnx::Conv_288");
    fingerprint(&w.erb_dec.conv3p.weight, -0.187_028_6, 0.176_493_29, 8.249_304_84, "erb_dec onnx::Conv_288");

    fingerprint(&w.enc.erb_conv0.weight, -0.085_203_97, -0.137_734_37, 248.409_402, "enc onnx::Conv_282");
    fingerprint(&w.enc.df_fc_emb, -0.124_877_03, 0.004_552_778_3, 2_168.113_05, "enc df_fc_emb.0.weight");
    fingerprint(&w.erb_dec.conv0_out.weight, -0.749_559_76, 0.150_192_71, 72.189_328_9, "erb_dec onnx::Conv_309");
    fingerprint(&w.df_dec.df_out, -0.053_455_047, -0.001_662_885_7, 444.126_526, "df_dec df_out.0.weight");
    fingerprint(&w.df_dec.df_convp.spatial, 0.002_681_413_2, 0.002_096_446_2, 9.964_659_56, "df_dec df_convp.1.weight");
}

#[test]
fn config_matches_spec_section_1_1() {
    let c = bundled().config;
    let expected = Dfn3Config {
        sr: 48_000,
        fft_size: 960,
        hop_size: 480,
        nb_erb: 32,
        nb_df: 96,
        min_nb_erb_freqs: 2,
        norm_tau: 1.0,
        lsnr_min: -15.0,
        lsnr_max: 35.0,
        df_order: 5,
        df_lookahead: 2,
        conv_lookahead: 2,
        conv_ch: 64,
        conv_kernel_inp: [3, 3],
        conv_kernel: [1, 3],
        convt_kernel: [1, 3],
        emb_hidden_dim: 256,
        emb_num_layers: 3,
        df_hidden_dim: 256,
        df_num_layers: 2,
        linear_groups: 16,
        enc_linear_groups: 32,
        df_pathway_kernel_size_t: 5,
        mask_pf: false,
    };
    assert_eq!(c, expected);
    assert_eq!(c.freq_bins(), 481);
    assert_eq!(c.emb_dim(), 512);
    assert_eq!(c.df_emb_in_dim(), 3072);
    assert_eq!(c.lookahead(), 2);
}

#[test]
fn directory_bytes_and_archive_give_the_same_weights() {
    let path = Dfn3Weights::bundled_path();
    assert!(
        path.ends_with(Path::new("weights/DeepFilterNet3_onnx.tar.gz"))
            || std::env::var_os("SLUICE_MODELS_DIR").is_some()
    );
    let from_archive = bundled();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let from_bytes = Dfn3Weights::from_bytes(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_bytes, from_archive);

    // Unpack into a directory with the std + tar readers the loader does not share state with.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    for entry in archive.entries().unwrap_or_else(|e| panic!("{e}")) {
        let mut entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let name = entry.path().unwrap_or_else(|e| panic!("{e}")).file_name().map(|n| n.to_owned());
        if let Some(name) = name {
            let mut out = std::fs::File::create(dir.path().join(name)).unwrap_or_else(|e| panic!("{e}"));
            std::io::copy(&mut entry, &mut out).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let from_dir = Dfn3Weights::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_dir, from_archive);
}

/// `SLUICE_MODELS_DIR` redirects `bundled()`. Checked in a child process so that no test in
/// this process sees a changed environment (setting variables is not thread-safe).
#[test]
fn models_dir_env_var_redirects_bundled() {
    const CHILD: &str = "SLUICE_TEST_ENV_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let dir = std::env::var_os("SLUICE_MODELS_DIR").unwrap_or_else(|| panic!("child without SLUICE_MODELS_DIR"));
        let expected = Path::new(&dir).join("DeepFilterNet3_onnx.tar.gz");
        assert_eq!(Dfn3Weights::bundled_path(), expected);
        match Dfn3Weights::bundled() {
            Err(e @ sluice_models::WeightsError::Io { .. }) => {
                assert!(e.to_string().contains(&expected.display().to_string()), "{e}")
            }
            other => panic!("expected an Io error for an empty models dir, got {other:?}"),
        }
        return;
    }
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new(exe)
        .args(["--exact", "models_dir_env_var_redirects_bundled", "--test-threads=1"])
        .env(CHILD, "1")
        .env("SLUICE_MODELS_DIR", empty.path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child test failed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("1 passed"), "the child did not run the test:\n{text}");
}
