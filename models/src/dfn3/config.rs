//! DeepFilterNet3 `config.ini`: the typed, validated hyper-parameters of an export.
//!
//! Only the `[df]` (DSP) and `[deepfilternet]` (network) sections matter for inference; the
//! training sections are ignored. Sizes (channels, bands, hidden widths, groups) may differ
//! from the official model as long as they are consistent, because weight shapes are derived
//! from them. Options that change the graph's structure must have the DeepFilterNet3 value.

use thiserror::Error;

use super::ini::Ini;

/// What is wrong with a `config.ini`; every variant names the key (as `section.key`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The text is not INI.
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key inference needs is absent.
    #[error("missing key {key}")]
    MissingKey {
        /// `section.key`.
        key: &'static str,
    },
    /// A value does not parse as the key's type.
    #[error("key {key} = {value:?} is not {expected}")]
    BadValue {
        /// `section.key`.
        key: &'static str,
        /// The text found.
        value: String,
        /// The type or form expected.
        expected: &'static str,
    },
    /// A value parses but this implementation does not support it.
    #[error("key {key} = {value:?} is not supported: {reason}")]
    Unsupported {
        /// `section.key`.
        key: &'static str,
        /// The text found.
        value: String,
        /// Why, and what is supported.
        reason: String,
    },
}

/// Hyper-parameters of a DeepFilterNet3 export (official values in brackets).
#[derive(Debug, Clone, PartialEq)]
pub struct Dfn3Config {
    /// Sample rate in Hz (48000).
    pub sr: u32,
    /// FFT length in samples (960).
    pub fft_size: usize,
    /// Hop in samples (480; always `fft_size / 2`).
    pub hop_size: usize,
    /// Number of ERB bands (32).
    pub nb_erb: usize,
    /// Number of low bins that get deep filtering (96).
    pub nb_df: usize,
    /// Minimum bins per ERB band (2).
    pub min_nb_erb_freqs: usize,
    /// Time constant of the feature normalisation in seconds (1).
    pub norm_tau: f32,
    /// Lower end of the local-SNR range in dB (−15).
    pub lsnr_min: f32,
    /// Upper end of the local-SNR range in dB (35).
    pub lsnr_max: f32,
    /// Deep-filter taps in time (5).
    pub df_order: usize,
    /// Deep-filter look-ahead in frames (2).
    pub df_lookahead: usize,
    /// Encoder look-ahead in frames (2).
    pub conv_lookahead: usize,
    /// Convolution channels (64).
    pub conv_ch: usize,
    /// Input conv kernel `[time, freq]` of `erb_conv0` and `df_conv0` ([3, 3]).
    pub conv_kernel_inp: [usize; 2],
    /// Kernel `[time, freq]` of the other convs ([1, 3]).
    pub conv_kernel: [usize; 2],
    /// Kernel `[time, freq]` of the transposed convs ([1, 3]).
    pub convt_kernel: [usize; 2],
    /// Embedding GRU width (256).
    pub emb_hidden_dim: usize,
    /// Embedding GRU layers: 1 in the encoder, the rest in the ERB decoder (3).
    pub emb_num_layers: usize,
    /// DF decoder GRU width (256).
    pub df_hidden_dim: usize,
    /// DF decoder GRU layers (2).
    pub df_num_layers: usize,
    /// Groups of the grouped linear layers (16).
    pub linear_groups: usize,
    /// Groups of the encoder's `df_fc_emb` (32).
    pub enc_linear_groups: usize,
    /// Time kernel of the DF pathway conv `df_convp` (5).
    pub df_pathway_kernel_size_t: usize,
    /// Whether the export enables the mask post-filter by default (false).
    pub mask_pf: bool,
}

/// Groups of the DF decoder's GRU input layer: fixed in DeepFilterNet3's code (`SqueezedGRU_S`
/// default), not in `config.ini`.
pub const DF_GRU_LINEAR_GROUPS: usize = 8;

impl Dfn3Config {
    /// Parses and validates the text of `config.ini`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let ini = Ini::parse(text)?;
        let p = Fields { ini: &ini };

        if let Some(model) = ini.get("train", "model")
            && model != "deepfilternet3"
        {
            return Err(unsupported("train.model", model, "this loader implements deepfilternet3"));
        }
        for (key, section, name, want) in [
            ("df.pad_mode", "df", "pad_mode", "output"),
            ("deepfilternet.conv_dec_mode", "deepfilternet", "conv_dec_mode", "transposed"),
            ("deepfilternet.dfop_method", "deepfilternet", "dfop_method", "df"),
            ("deepfilternet.df_gru_skip", "deepfilternet", "df_gru_skip", "groupedlinear"),
            ("deepfilternet.emb_gru_skip", "deepfilternet", "emb_gru_skip", "none"),
        ] {
            let v = p.text(key, section, name)?;
            if v.to_lowercase() != want {
                return Err(unsupported(key, v, &format!("only {want:?} (DeepFilterNet3) is implemented")));
            }
        }
        for (key, section, name, want) in [
            ("deepfilternet.conv_depthwise", "deepfilternet", "conv_depthwise", true),
            ("deepfilternet.group_shuffle", "deepfilternet", "group_shuffle", false),
            ("deepfilternet.enc_concat", "deepfilternet", "enc_concat", false),
        ] {
            if p.bool(key, section, name)? != want {
                let v = p.text(key, section, name)?;
                return Err(unsupported(key, v, &format!("only {want} (DeepFilterNet3) is implemented")));
            }
        }
        let df_n_iter = p.usize("deepfilternet.df_n_iter", "deepfilternet", "df_n_iter")?;
        if df_n_iter != 1 {
            return Err(unsupported("deepfilternet.df_n_iter", &df_n_iter.to_string(), "only 1 is implemented"));
        }

        let c = Dfn3Config {
            sr: p.parse("df.sr", "df", "sr", "an unsigned integer")?,
            fft_size: p.usize("df.fft_size", "df", "fft_size")?,
            hop_size: p.usize("df.hop_size", "df", "hop_size")?,
            nb_erb: p.usize("df.nb_erb", "df", "nb_erb")?,
            nb_df: p.usize("df.nb_df", "df", "nb_df")?,
            min_nb_erb_freqs: p.usize("df.min_nb_erb_freqs", "df", "min_nb_erb_freqs")?,
            norm_tau: p.parse("df.norm_tau", "df", "norm_tau", "a number")?,
            lsnr_min: p.parse("df.lsnr_min", "df", "lsnr_min", "a number")?,
            lsnr_max: p.parse("df.lsnr_max", "df", "lsnr_max", "a number")?,
            df_order: p.usize("df.df_order", "df", "df_order")?,
            df_lookahead: p.usize("df.df_lookahead", "df", "df_lookahead")?,
            conv_lookahead: p.usize("deepfilternet.conv_lookahead", "deepfilternet", "conv_lookahead")?,
            conv_ch: p.usize("deepfilternet.conv_ch", "deepfilternet", "conv_ch")?,
            conv_kernel_inp: p.pair("deepfilternet.conv_kernel_inp", "deepfilternet", "conv_kernel_inp")?,
            conv_kernel: p.pair("deepfilternet.conv_kernel", "deepfilternet", "conv_kernel")?,
            convt_kernel: p.pair("deepfilternet.convt_kernel", "deepfilternet", "convt_kernel")?,
            emb_hidden_dim: p.usize("deepfilternet.emb_hidden_dim", "deepfilternet", "emb_hidden_dim")?,
            emb_num_layers: p.usize("deepfilternet.emb_num_layers", "deepfilternet", "emb_num_layers")?,
            df_hidden_dim: p.usize("deepfilternet.df_hidden_dim", "deepfilternet", "df_hidden_dim")?,
            df_num_layers: p.usize("deepfilternet.df_num_layers", "deepfilternet", "df_num_layers")?,
            linear_groups: p.usize("deepfilternet.linear_groups", "deepfilternet", "linear_groups")?,
            enc_linear_groups: p.usize("deepfilternet.enc_linear_groups", "deepfilternet", "enc_linear_groups")?,
            df_pathway_kernel_size_t: p.usize(
                "deepfilternet.df_pathway_kernel_size_t",
                "deepfilternet",
                "df_pathway_kernel_size_t",
            )?,
            mask_pf: p.bool("deepfilternet.mask_pf", "deepfilternet", "mask_pf")?,
        };
        c.validate()?;
        Ok(c)
    }

    /// Frequency bins of the real FFT (`fft_size / 2 + 1`; 481).
    pub fn freq_bins(&self) -> usize {
        self.fft_size / 2 + 1
    }

    /// Width of the embedding: `conv_ch × nb_erb / 4` (512), the flattened `e3`.
    pub fn emb_dim(&self) -> usize {
        self.conv_ch * self.nb_erb / 4
    }

    /// Width of the flattened `c1` fed to `df_fc_emb`: `conv_ch × nb_df / 2` (3072).
    pub fn df_emb_in_dim(&self) -> usize {
        self.conv_ch * self.nb_df / 2
    }

    /// Overall look-ahead in frames: `max(conv_lookahead, df_lookahead)` (2).
    pub fn lookahead(&self) -> usize {
        self.conv_lookahead.max(self.df_lookahead)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let v = |x: usize| x.to_string();
        if self.sr == 0 {
            return Err(unsupported("df.sr", "0", "must be positive"));
        }
        if self.fft_size < 4 || !self.fft_size.is_multiple_of(2) {
            return Err(unsupported("df.fft_size", &v(self.fft_size), "must be even and at least 4"));
        }
        if self.hop_size * 2 != self.fft_size {
            return Err(unsupported(
                "df.hop_size",
                &v(self.hop_size),
                &format!("must be fft_size / 2 = {} (the Vorbis window needs 50 % overlap)", self.fft_size / 2),
            ));
        }
        if self.nb_erb == 0 || !self.nb_erb.is_multiple_of(4) {
            return Err(unsupported(
                "df.nb_erb",
                &v(self.nb_erb),
                "must be a positive multiple of 4 (two stride-2 convs)",
            ));
        }
        if self.min_nb_erb_freqs == 0 || self.nb_erb * self.min_nb_erb_freqs > self.freq_bins() {
            return Err(unsupported(
                "df.min_nb_erb_freqs",
                &v(self.min_nb_erb_freqs),
                &format!("must be ≥ 1 with nb_erb × min_nb_erb_freqs ≤ {} bins", self.freq_bins()),
            ));
        }
        if self.nb_df == 0 || !self.nb_df.is_multiple_of(2) || self.nb_df > self.freq_bins() {
            return Err(unsupported(
                "df.nb_df",
                &v(self.nb_df),
                &format!("must be even, positive and ≤ {} bins", self.freq_bins()),
            ));
        }
        if !(self.norm_tau.is_finite() && self.norm_tau > 0.0) {
            return Err(unsupported("df.norm_tau", &self.norm_tau.to_string(), "must be a positive number of seconds"));
        }
        if !(self.lsnr_min.is_finite() && self.lsnr_max.is_finite() && self.lsnr_min < self.lsnr_max) {
            return Err(unsupported("df.lsnr_max", &self.lsnr_max.to_string(), "must be finite and above df.lsnr_min"));
        }
        if self.df_order == 0 {
            return Err(unsupported("df.df_order", "0", "must be at least 1"));
        }
        if self.df_lookahead >= self.df_order {
            return Err(unsupported("df.df_lookahead", &v(self.df_lookahead), "must be below df.df_order"));
        }
        if self.conv_lookahead >= self.df_order {
            return Err(unsupported(
                "deepfilternet.conv_lookahead",
                &v(self.conv_lookahead),
                "must be below df.df_order (the noisy-spectrum ring holds df_order frames)",
            ));
        }
        if self.conv_ch == 0 || !self.conv_ch.is_multiple_of(2) {
            return Err(unsupported(
                "deepfilternet.conv_ch",
                &v(self.conv_ch),
                "must be even and positive (df_conv0 and df_convp use 2 groups)",
            ));
        }
        let odd_freq = |key: &'static str, k: [usize; 2], time_one: bool| {
            if k[0] == 0 || k[1].is_multiple_of(2) || (time_one && k[0] != 1) {
                let want = if time_one { "1,<odd>" } else { "<t ≥ 1>,<odd>" };
                return Err(unsupported(key, &format!("{},{}", k[0], k[1]), &format!("must be {want}")));
            }
            Ok(())
        };
        odd_freq("deepfilternet.conv_kernel_inp", self.conv_kernel_inp, false)?;
        odd_freq("deepfilternet.conv_kernel", self.conv_kernel, true)?;
        if self.convt_kernel != [1, 3] {
            let k = self.convt_kernel;
            return Err(unsupported(
                "deepfilternet.convt_kernel",
                &format!("{},{}", k[0], k[1]),
                "must be 1,3 (the stride-2 transposed conv is implemented for 3 taps)",
            ));
        }
        if self.df_pathway_kernel_size_t == 0 {
            return Err(unsupported("deepfilternet.df_pathway_kernel_size_t", "0", "must be at least 1"));
        }
        if self.emb_num_layers < 2 {
            return Err(unsupported(
                "deepfilternet.emb_num_layers",
                &v(self.emb_num_layers),
                "must be ≥ 2 (1 GRU layer in the encoder, the rest in the ERB decoder)",
            ));
        }
        if self.df_num_layers == 0 {
            return Err(unsupported("deepfilternet.df_num_layers", "0", "must be at least 1"));
        }
        for (key, hidden) in
            [("deepfilternet.emb_hidden_dim", self.emb_hidden_dim), ("deepfilternet.df_hidden_dim", self.df_hidden_dim)]
        {
            if hidden == 0 {
                return Err(unsupported(key, "0", "must be positive"));
            }
        }
        let divides = |key: &'static str, groups: usize, dims: &[(&str, usize)]| {
            for &(what, dim) in dims {
                if groups == 0 || dim % groups != 0 {
                    return Err(unsupported(key, &v(groups), &format!("must divide {what} = {dim}")));
                }
            }
            Ok(())
        };
        divides(
            "deepfilternet.linear_groups",
            self.linear_groups,
            &[
                ("the embedding width conv_ch × nb_erb / 4", self.emb_dim()),
                ("emb_hidden_dim", self.emb_hidden_dim),
                ("df_hidden_dim", self.df_hidden_dim),
                ("nb_df × df_order × 2", self.nb_df * self.df_order * 2),
            ],
        )?;
        divides(
            "deepfilternet.enc_linear_groups",
            self.enc_linear_groups,
            &[
                ("conv_ch × nb_df / 2", self.df_emb_in_dim()),
                ("the embedding width conv_ch × nb_erb / 4", self.emb_dim()),
            ],
        )?;
        divides(
            "deepfilternet.df_hidden_dim",
            DF_GRU_LINEAR_GROUPS,
            &[("df_hidden_dim", self.df_hidden_dim), ("the embedding width conv_ch × nb_erb / 4", self.emb_dim())],
        )?;
        Ok(())
    }
}

fn unsupported(key: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Unsupported { key, value: value.to_owned(), reason: reason.to_owned() }
}

/// Typed access to INI values, producing errors that name the key.
struct Fields<'i> {
    ini: &'i Ini,
}

impl<'i> Fields<'i> {
    fn text(&self, key: &'static str, section: &str, name: &str) -> Result<&'i str, ConfigError> {
        self.ini.get(section, name).ok_or(ConfigError::MissingKey { key })
    }

    fn parse<T: std::str::FromStr>(
        &self,
        key: &'static str,
        section: &str,
        name: &str,
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        let text = self.text(key, section, name)?;
        text.parse().map_err(|_| ConfigError::BadValue { key, value: text.to_owned(), expected })
    }

    fn usize(&self, key: &'static str, section: &str, name: &str) -> Result<usize, ConfigError> {
        self.parse(key, section, name, "an unsigned integer")
    }

    /// configparser's boolean spellings.
    fn bool(&self, key: &'static str, section: &str, name: &str) -> Result<bool, ConfigError> {
        let text = self.text(key, section, name)?;
        match text.to_lowercase().as_str() {
            "1" | "yes" | "true" | "on" => Ok(true),
            "0" | "no" | "false" | "off" => Ok(false),
            _ => Err(ConfigError::BadValue { key, value: text.to_owned(), expected: "a boolean (true/false)" }),
        }
    }

    /// `a,b` as two unsigned integers.
    fn pair(&self, key: &'static str, section: &str, name: &str) -> Result<[usize; 2], ConfigError> {
        let text = self.text(key, section, name)?;
        let bad = || ConfigError::BadValue { key, value: text.to_owned(), expected: "two integers `a,b`" };
        let mut it = text.split(',').map(|s| s.trim().parse::<usize>());
        match (it.next(), it.next(), it.next()) {
            (Some(Ok(a)), Some(Ok(b)), None) => Ok([a, b]),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inference-relevant keys of the official config (no training sections).
    const MINIMAL: &str = "[df]\nsr = 48000\nfft_size = 960\nhop_size = 480\nnb_erb = 32\nnb_df = 96\nnorm_tau = 1\n\
        lsnr_max = 35\nlsnr_min = -15\nmin_nb_erb_freqs = 2\npad_mode = output\ndf_order = 5\ndf_lookahead = 2\n\
        [deepfilternet]\nconv_lookahead = 2\nconv_ch = 64\nconv_depthwise = True\nemb_hidden_dim = 256\n\
        emb_num_layers = 3\nenc_linear_groups = 32\nlinear_groups = 16\nconv_dec_mode = transposed\nmask_pf = False\n\
        df_hidden_dim = 256\ndf_num_layers = 2\ndfop_method = df\ngroup_shuffle = False\nconv_kernel = 1,3\n\
        df_gru_skip = groupedlinear\ndf_pathway_kernel_size_t = 5\nenc_concat = False\nconv_kernel_inp = 3,3\n\
        emb_gru_skip = none\ndf_n_iter = 1\nconvt_kernel = 1,3\n";

    fn parse(text: &str) -> Result<Dfn3Config, ConfigError> {
        Dfn3Config::parse(text)
    }

    #[test]
    fn minimal_config_parses_without_training_sections() {
        let c = parse(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.sr, c.nb_erb, c.nb_df, c.conv_kernel_inp, c.mask_pf), (48_000, 32, 96, [3, 3], false));
    }

    #[test]
    fn configparser_booleans_and_pairs() {
        let c = parse(&MINIMAL.replace("mask_pf = False", "mask_pf = yes")).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.mask_pf);
        let c = parse(&MINIMAL.replace("conv_kernel_inp = 3,3", "conv_kernel_inp = 3, 5"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.conv_kernel_inp, [3, 5]);
        for bad in ["conv_kernel = 1,3,5", "conv_kernel = 1", "conv_kernel = a,b"] {
            let e = parse(&MINIMAL.replace("conv_kernel = 1,3", bad)).err();
            assert!(matches!(e, Some(ConfigError::BadValue { key: "deepfilternet.conv_kernel", .. })), "{bad}: {e:?}");
        }
    }

    #[test]
    fn unsupported_values_name_their_key() {
        for (from, to, key) in [
            ("sr = 48000", "sr = 0", "df.sr"),
            ("nb_df = 96", "nb_df = 95", "df.nb_df"),
            ("df_lookahead = 2", "df_lookahead = 5", "df.df_lookahead"),
            ("conv_lookahead = 2", "conv_lookahead = 7", "deepfilternet.conv_lookahead"),
            ("conv_ch = 64", "conv_ch = 63", "deepfilternet.conv_ch"),
            ("linear_groups = 16", "linear_groups = 7", "deepfilternet.linear_groups"),
            ("enc_linear_groups = 32", "enc_linear_groups = 0", "deepfilternet.enc_linear_groups"),
            ("emb_num_layers = 3", "emb_num_layers = 1", "deepfilternet.emb_num_layers"),
            ("convt_kernel = 1,3", "convt_kernel = 1,5", "deepfilternet.convt_kernel"),
            ("conv_kernel = 1,3", "conv_kernel = 2,3", "deepfilternet.conv_kernel"),
            ("norm_tau = 1", "norm_tau = -1", "df.norm_tau"),
            ("df_n_iter = 1", "df_n_iter = 2", "deepfilternet.df_n_iter"),
            ("enc_concat = False", "enc_concat = True", "deepfilternet.enc_concat"),
            ("pad_mode = output", "pad_mode = input", "df.pad_mode"),
        ] {
            let text = MINIMAL.replace(from, to);
            assert_ne!(text, MINIMAL, "{from}");
            match parse(&text) {
                Err(ConfigError::Unsupported { key: k, .. }) => assert_eq!(k, key, "{to}"),
                other => panic!("{to}: expected Unsupported({key}), got {other:?}"),
            }
        }
        let e = parse(&format!("[train]\nmodel = deepfilternet2\n{MINIMAL}")).err();
        assert!(matches!(e, Some(ConfigError::Unsupported { key: "train.model", .. })), "{e:?}");
    }
}
