//! Typed DeepFilterNet3 weights, read from the three ONNX graphs of an export.
//!
//! Tensors are found per file through the node that consumes them (node name + input
//! index), never by tensor name alone: names such as `onnx::Conv_288` exist in more than one
//! file with different meanings, and the encoder's and ERB decoder's GRU weights are
//! `Constant` nodes rather than initializers. Every shape is checked against the shape the
//! config implies (spec `dfn3.md` §2.6 for the official export).

use std::path::{Path, PathBuf};

use super::config::{DF_GRU_LINEAR_GROUPS, Dfn3Config};
use crate::archive::ModelFiles;
use crate::onnx::{AttributeValue, GraphIndex, Model, Node, OnnxError};
use crate::{Weight, WeightsError};

/// File name of the committed official export, inside the weights directory.
pub const BUNDLED_ARCHIVE: &str = "DeepFilterNet3_onnx.tar.gz";

pub use crate::bundled::MODELS_DIR_ENV;

const ENC: &str = "enc.onnx";
const ERB_DEC: &str = "erb_dec.onnx";
const DF_DEC: &str = "df_dec.onnx";
const CONFIG: &str = "config.ini";

/// The four files of a DeepFilterNet3 export.
pub const EXPORT_FILES: [&str; 4] = [ENC, ERB_DEC, DF_DEC, CONFIG];

/// A convolution with a bias (a folded BatchNorm, or the layer's own bias).
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    /// `[Cout, Cin/groups, kT, kF]`.
    pub weight: Weight,
    /// `[Cout]`.
    pub bias: Weight,
}

/// A bias-free spatial conv (depthwise, grouped or transposed) followed by a pointwise
/// 1×1 conv with bias (the folded BatchNorm).
#[derive(Debug, Clone, PartialEq)]
pub struct SeparableConv {
    /// The spatial conv: `[Cout, Cin/groups, kT, kF]` (for ConvTranspose `[Cin, Cout/groups, kT, kF]`).
    pub spatial: Weight,
    /// Pointwise `[Cout, Cin, 1, 1]`.
    pub pointwise: Weight,
    /// Pointwise bias `[Cout]`.
    pub bias: Weight,
}

/// One ONNX GRU layer (`linear_before_reset = 1`, gate rows ordered z, r, h).
#[derive(Debug, Clone, PartialEq)]
pub struct Gru {
    /// Input weights `[1, 3H, I]`.
    pub w: Weight,
    /// Recurrent weights `[1, 3H, H]`.
    pub r: Weight,
    /// Biases `[1, 6H]` = input biases then recurrent biases.
    pub b: Weight,
}

/// A dense layer `y = x·W + b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// `[I, O]` (MatMul right operand).
    pub weight: Weight,
    /// `[O]`.
    pub bias: Weight,
}

/// Encoder (`enc.onnx`) weights. Grouped-linear weights are `[G, I/G, O/G]` (Einsum `btgi,gih->btgh`).
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderWeights {
    /// `erb_conv0`: 3×3 conv, 1 → C, with bias.
    pub erb_conv0: Conv,
    /// `erb_conv1`: depthwise 1×3 stride 2 + pointwise.
    pub erb_conv1: SeparableConv,
    /// `erb_conv2`: depthwise 1×3 stride 2 + pointwise.
    pub erb_conv2: SeparableConv,
    /// `erb_conv3`: depthwise 1×3 + pointwise.
    pub erb_conv3: SeparableConv,
    /// `df_conv0`: grouped (2) 3×3 conv + pointwise.
    pub df_conv0: SeparableConv,
    /// `df_conv1`: depthwise 1×3 stride 2 + pointwise.
    pub df_conv1: SeparableConv,
    /// `df_fc_emb`: grouped linear `[enc_linear_groups, C·nb_df/2/G, emb/G]`.
    pub df_fc_emb: Weight,
    /// `emb_gru.linear_in`: grouped linear `[G, emb/G, H/G]`.
    pub emb_gru_linear_in: Weight,
    /// `emb_gru.gru`: one GRU layer.
    pub emb_gru: Gru,
    /// `emb_gru.linear_out`: grouped linear `[G, H/G, emb/G]`.
    pub emb_gru_linear_out: Weight,
    /// `lsnr_fc`: emb → 1.
    pub lsnr_fc: Linear,
}

/// ERB decoder (`erb_dec.onnx`) weights.
#[derive(Debug, Clone, PartialEq)]
pub struct ErbDecoderWeights {
    /// `emb_gru.linear_in`: grouped linear `[G, emb/G, H/G]`.
    pub emb_gru_linear_in: Weight,
    /// `emb_gru.gru`: `emb_num_layers − 1` stacked GRU layers.
    pub emb_gru: Vec<Gru>,
    /// `emb_gru.linear_out`: grouped linear `[G, H/G, emb/G]`.
    pub emb_gru_linear_out: Weight,
    /// `conv3p`: depthwise 1×1 with bias on e3.
    pub conv3p: Conv,
    /// `convt3`: depthwise 1×3 + pointwise.
    pub convt3: SeparableConv,
    /// `conv2p`: depthwise 1×1 with bias on e2.
    pub conv2p: Conv,
    /// `convt2`: depthwise ConvTranspose 1×3 stride 2 + pointwise.
    pub convt2: SeparableConv,
    /// `conv1p`: depthwise 1×1 with bias on e1.
    pub conv1p: Conv,
    /// `convt1`: depthwise ConvTranspose 1×3 stride 2 + pointwise.
    pub convt1: SeparableConv,
    /// `conv0p`: depthwise 1×1 with bias on e0.
    pub conv0p: Conv,
    /// `conv0_out`: C → 1, 1×3, with bias (sigmoid → mask).
    pub conv0_out: Conv,
}

/// DF decoder (`df_dec.onnx`) weights.
#[derive(Debug, Clone, PartialEq)]
pub struct DfDecoderWeights {
    /// `df_gru.linear_in`: grouped linear `[8, emb/8, H/8]`.
    pub df_gru_linear_in: Weight,
    /// `df_gru.gru`: `df_num_layers` stacked GRU layers.
    pub df_gru: Vec<Gru>,
    /// `df_skip`: grouped linear `[G, emb/G, H/G]`.
    pub df_skip: Weight,
    /// `df_out`: grouped linear `[G, H/G, nb_df·df_order·2/G]`.
    pub df_out: Weight,
    /// `df_convp`: grouped (2) `df_pathway_kernel_size_t`×1 conv + pointwise.
    pub df_convp: SeparableConv,
    /// `df_fc_a`: H → 1 (the DF alpha output; libDF does not use it).
    pub df_fc_a: Linear,
}

/// All weights and the config of a DeepFilterNet3 export.
#[derive(Debug, Clone, PartialEq)]
pub struct Dfn3Weights {
    /// The validated `config.ini`.
    pub config: Dfn3Config,
    /// `enc.onnx`.
    pub enc: EncoderWeights,
    /// `erb_dec.onnx`.
    pub erb_dec: ErbDecoderWeights,
    /// `df_dec.onnx`.
    pub df_dec: DfDecoderWeights,
}

impl Dfn3Weights {
    /// Loads an export from a `.tar.gz` archive or from a directory holding
    /// `enc.onnx`, `erb_dec.onnx`, `df_dec.onnx` and `config.ini`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, WeightsError> {
        Self::from_files(&ModelFiles::read(path.as_ref(), &EXPORT_FILES)?)
    }

    /// Loads an export from the bytes of its `.tar.gz` archive (e.g. an `include_bytes!`).
    pub fn from_bytes(tar_gz: &[u8]) -> Result<Self, WeightsError> {
        Self::from_files(&ModelFiles::from_tar_gz_bytes(tar_gz, &EXPORT_FILES)?)
    }

    /// Loads the official DeepFilterNet3 export committed in this crate's `weights/`.
    ///
    /// The archive is read at run time from where [`crate::bundled::path`] finds it
    /// (`$SLUICE_MODELS_DIR`, else the checkout's `models/weights/`). It is not
    /// embedded with `include_bytes!` because that would add 8 MB to every binary and test
    /// linking this crate; a binary that must be self-contained can embed the archive itself
    /// and call [`Dfn3Weights::from_bytes`].
    pub fn bundled() -> Result<Self, WeightsError> {
        Self::load(Self::bundled_path())
    }

    /// Where [`Dfn3Weights::bundled`] looks for the archive.
    pub fn bundled_path() -> PathBuf {
        crate::bundled::path(BUNDLED_ARCHIVE)
    }

    /// Decodes already-read export files.
    pub fn from_files(files: &ModelFiles) -> Result<Self, WeightsError> {
        let file = |name: &'static str| {
            files.get(name).ok_or_else(|| WeightsError::MissingFile { archive: files.source().to_owned(), file: name })
        };
        let config_text = std::str::from_utf8(file(CONFIG)?).map_err(|_| WeightsError::Config {
            file: CONFIG,
            source: super::ConfigError::Syntax { line: 0, reason: "file is not UTF-8" },
        })?;
        let config = Dfn3Config::parse(config_text).map_err(|source| WeightsError::Config { file: CONFIG, source })?;

        let enc_model = decode(ENC, file(ENC)?)?;
        let enc = load_encoder(&Graph::new(ENC, &enc_model), &config)?;
        let erb_model = decode(ERB_DEC, file(ERB_DEC)?)?;
        let erb_dec = load_erb_decoder(&Graph::new(ERB_DEC, &erb_model), &config)?;
        let df_model = decode(DF_DEC, file(DF_DEC)?)?;
        let df_dec = load_df_decoder(&Graph::new(DF_DEC, &df_model), &config)?;
        Ok(Self { config, enc, erb_dec, df_dec })
    }

    /// Total number of parameters (2,134,641 for the official export).
    pub fn params(&self) -> usize {
        self.enc.params() + self.erb_dec.params() + self.df_dec.params()
    }
}

impl Conv {
    fn params(&self) -> usize {
        self.weight.len() + self.bias.len()
    }
}

impl SeparableConv {
    fn params(&self) -> usize {
        self.spatial.len() + self.pointwise.len() + self.bias.len()
    }
}

impl Gru {
    fn params(&self) -> usize {
        self.w.len() + self.r.len() + self.b.len()
    }
}

impl Linear {
    fn params(&self) -> usize {
        self.weight.len() + self.bias.len()
    }
}

impl EncoderWeights {
    /// Number of parameters (483,585 for the official export).
    pub fn params(&self) -> usize {
        self.erb_conv0.params()
            + [&self.erb_conv1, &self.erb_conv2, &self.erb_conv3, &self.df_conv0, &self.df_conv1]
                .iter()
                .map(|c| c.params())
                .sum::<usize>()
            + self.df_fc_emb.len()
            + self.emb_gru_linear_in.len()
            + self.emb_gru.params()
            + self.emb_gru_linear_out.len()
            + self.lsnr_fc.params()
    }
}

impl ErbDecoderWeights {
    /// Number of parameters (819,649 for the official export).
    pub fn params(&self) -> usize {
        self.emb_gru_linear_in.len()
            + self.emb_gru.iter().map(Gru::params).sum::<usize>()
            + self.emb_gru_linear_out.len()
            + [&self.conv3p, &self.conv2p, &self.conv1p, &self.conv0p, &self.conv0_out]
                .iter()
                .map(|c| c.params())
                .sum::<usize>()
            + [&self.convt3, &self.convt2, &self.convt1].iter().map(|c| c.params()).sum::<usize>()
    }
}

impl DfDecoderWeights {
    /// Number of parameters (831,407 for the official export).
    pub fn params(&self) -> usize {
        self.df_gru_linear_in.len()
            + self.df_gru.iter().map(Gru::params).sum::<usize>()
            + self.df_skip.len()
            + self.df_out.len()
            + self.df_convp.params()
            + self.df_fc_a.params()
    }
}

fn decode<'a>(file: &'static str, bytes: &'a [u8]) -> Result<Model<'a>, WeightsError> {
    Model::decode(bytes).map_err(|source| WeightsError::Onnx { file, source: Box::new(source) })
}

/// One ONNX file's graph with lookups that report errors naming the file.
struct Graph<'g, 'a> {
    file: &'static str,
    index: GraphIndex<'g, 'a>,
}

/// Which input of a node holds a weight.
#[derive(Clone, Copy)]
enum Operand {
    /// The input at this index.
    Input(usize),
    /// The one input that is a stored tensor (for `Add`, whose operand order exporters vary).
    Stored,
}

impl<'g, 'a> Graph<'g, 'a> {
    fn new(file: &'static str, model: &'g Model<'a>) -> Self {
        Self { file, index: GraphIndex::new(&model.graph) }
    }

    fn node(&self, name: &str, op: &'static str) -> Result<&'g Node<'a>, WeightsError> {
        let node = self.index.node(name).ok_or(WeightsError::MissingNode { file: self.file, node: name.into(), op })?;
        if node.op_type != op {
            return Err(WeightsError::WrongOp {
                file: self.file,
                node: name.into(),
                expected: op,
                found: node.op_type.into(),
            });
        }
        Ok(node)
    }

    /// The weight feeding `operand` of node `name` (an `op`), checked to have `shape`.
    fn weight(&self, name: &str, op: &'static str, operand: Operand, shape: &[usize]) -> Result<Weight, WeightsError> {
        let node = self.node(name, op)?;
        let (index, value) = match operand {
            Operand::Input(i) => (i, node.inputs.get(i).copied().unwrap_or("")),
            Operand::Stored => {
                let stored: Vec<(usize, &str)> =
                    node.inputs.iter().copied().enumerate().filter(|(_, v)| self.index.stored(v).is_some()).collect();
                match stored[..] {
                    [one] => one,
                    _ => {
                        return Err(WeightsError::AmbiguousOperand {
                            file: self.file,
                            node: name.into(),
                            found: stored.len(),
                        });
                    }
                }
            }
        };
        let missing =
            || WeightsError::MissingTensor { file: self.file, node: name.into(), index, tensor: value.into() };
        if value.is_empty() {
            return Err(missing());
        }
        let tensor = self.index.stored(value).ok_or_else(missing)?;
        let data_error = |source: OnnxError| WeightsError::TensorData {
            file: self.file,
            tensor: value.into(),
            node: name.into(),
            index,
            source: Box::new(source),
        };
        let found = tensor.shape().map_err(data_error)?;
        if found != shape {
            return Err(WeightsError::Shape {
                file: self.file,
                tensor: value.into(),
                node: name.into(),
                index,
                expected: shape.to_vec(),
                found,
            });
        }
        let data = tensor.to_f32().map_err(data_error)?;
        // `to_f32` checked the element count against the dims, which equal `shape`.
        Weight::new(found, data).ok_or_else(missing)
    }

    /// Requires attribute `attribute` of node `name` to be the integer `want`
    /// (`default` is the ONNX default when the attribute is absent).
    fn int_attr(
        &self,
        name: &str,
        op: &'static str,
        attribute: &'static str,
        want: i64,
        default: Option<i64>,
    ) -> Result<(), WeightsError> {
        let node = self.node(name, op)?;
        let found = match node.attribute(attribute) {
            Some(AttributeValue::Int(v)) => Some(*v),
            Some(_) => None,
            None => default,
        };
        if found == Some(want) {
            return Ok(());
        }
        Err(WeightsError::Attribute {
            file: self.file,
            node: name.into(),
            attribute,
            expected: want.to_string(),
            found: found.map_or_else(|| "absent or not an integer".to_owned(), |v| v.to_string()),
        })
    }

    /// Requires a string attribute to equal `want` (`default` when absent).
    fn str_attr(
        &self,
        name: &str,
        op: &'static str,
        attribute: &'static str,
        want: &str,
        default: Option<&str>,
    ) -> Result<(), WeightsError> {
        let node = self.node(name, op)?;
        let found = match node.attribute(attribute) {
            Some(AttributeValue::Bytes(b)) => std::str::from_utf8(b).ok(),
            Some(_) => None,
            None => default,
        };
        if found == Some(want) {
            return Ok(());
        }
        Err(WeightsError::Attribute {
            file: self.file,
            node: name.into(),
            attribute,
            expected: format!("{want:?}"),
            found: found.map_or_else(|| "absent or not a string".to_owned(), |v| format!("{v:?}")),
        })
    }

    fn conv(&self, name: &str, groups: usize, weight: [usize; 4], bias: usize) -> Result<Conv, WeightsError> {
        self.int_attr(name, "Conv", "group", groups as i64, Some(1))?;
        Ok(Conv {
            weight: self.weight(name, "Conv", Operand::Input(1), &weight)?,
            bias: self.weight(name, "Conv", Operand::Input(2), &[bias])?,
        })
    }

    /// A bias-free spatial conv (`op` is `Conv` or `ConvTranspose`) then a pointwise conv.
    fn separable(
        &self,
        spatial: (&str, &'static str, usize, [usize; 4]),
        pointwise: &str,
        channels: usize,
    ) -> Result<SeparableConv, WeightsError> {
        let (name, op, groups, shape) = spatial;
        self.int_attr(name, op, "group", groups as i64, Some(1))?;
        if self.node(name, op)?.inputs.get(2).is_some_and(|b| !b.is_empty()) {
            return Err(WeightsError::Attribute {
                file: self.file,
                node: name.into(),
                attribute: "bias input",
                expected: "none (the bias is folded into the pointwise conv)".into(),
                found: "present".into(),
            });
        }
        let pw = self.conv(pointwise, 1, [channels, shape_in(op, shape, groups), 1, 1], channels)?;
        Ok(SeparableConv {
            spatial: self.weight(name, op, Operand::Input(1), &shape)?,
            pointwise: pw.weight,
            bias: pw.bias,
        })
    }

    fn grouped_linear(&self, name: &str, groups: usize, input: usize, output: usize) -> Result<Weight, WeightsError> {
        self.str_attr(name, "Einsum", "equation", "btgi,gih->btgh", None)?;
        self.weight(name, "Einsum", Operand::Input(1), &[groups, input / groups, output / groups])
    }

    fn gru(&self, name: &str, input: usize, hidden: usize) -> Result<Gru, WeightsError> {
        self.int_attr(name, "GRU", "hidden_size", hidden as i64, None)?;
        self.int_attr(name, "GRU", "linear_before_reset", 1, Some(0))?;
        self.str_attr(name, "GRU", "direction", "forward", Some("forward"))?;
        Ok(Gru {
            w: self.weight(name, "GRU", Operand::Input(1), &[1, 3 * hidden, input])?,
            r: self.weight(name, "GRU", Operand::Input(2), &[1, 3 * hidden, hidden])?,
            b: self.weight(name, "GRU", Operand::Input(3), &[1, 6 * hidden])?,
        })
    }

    fn linear(&self, matmul: &str, add: &str, input: usize, output: usize) -> Result<Linear, WeightsError> {
        Ok(Linear {
            weight: self.weight(matmul, "MatMul", Operand::Input(1), &[input, output])?,
            bias: self.weight(add, "Add", Operand::Stored, &[output])?,
        })
    }
}

/// Output channels of a spatial conv, i.e. the pointwise conv's input channels.
fn shape_in(op: &str, shape: [usize; 4], groups: usize) -> usize {
    // Conv: [Cout, Cin/g, ..]; ConvTranspose: [Cin, Cout/g, ..].
    if op == "ConvTranspose" { shape[1] * groups } else { shape[0] }
}

/// Name of stacked GRU layer `k` as the PyTorch exporter writes it: `P`, `P_1`, `P_2`, ...
fn gru_node_name(prefix: &str, k: usize) -> String {
    if k == 0 { prefix.to_owned() } else { format!("{prefix}_{k}") }
}

fn load_encoder(g: &Graph<'_, '_>, c: &Dfn3Config) -> Result<EncoderWeights, WeightsError> {
    let ch = c.conv_ch;
    let [kti, kfi] = c.conv_kernel_inp;
    let [kt, kf] = c.conv_kernel;
    let dw = |name| (name, "Conv", ch, [ch, 1, kt, kf]);
    let (emb, hidden, groups) = (c.emb_dim(), c.emb_hidden_dim, c.linear_groups);
    Ok(EncoderWeights {
        erb_conv0: g.conv("/erb_conv0/1/Conv", 1, [ch, 1, kti, kfi], ch)?,
        erb_conv1: g.separable(dw("/erb_conv1/0/Conv"), "/erb_conv1/1/Conv", ch)?,
        erb_conv2: g.separable(dw("/erb_conv2/Conv"), "/erb_conv2/Conv_1", ch)?,
        erb_conv3: g.separable(dw("/erb_conv3/0/Conv"), "/erb_conv3/1/Conv", ch)?,
        df_conv0: g.separable(("/df_conv0/1/Conv", "Conv", 2, [ch, 1, kti, kfi]), "/df_conv0/2/Conv", ch)?,
        df_conv1: g.separable(dw("/df_conv1/Conv"), "/df_conv1/Conv_1", ch)?,
        df_fc_emb: g.grouped_linear("/df_fc_emb/0/Einsum", c.enc_linear_groups, c.df_emb_in_dim(), emb)?,
        emb_gru_linear_in: g.grouped_linear("/emb_gru/linear_in/0/Einsum", groups, emb, hidden)?,
        emb_gru: g.gru("/emb_gru/GRU", hidden, hidden)?,
        emb_gru_linear_out: g.grouped_linear("/emb_gru/linear_out/0/Einsum", groups, hidden, emb)?,
        lsnr_fc: g.linear("/lsnr_fc/0/MatMul", "/lsnr_fc/0/Add", emb, 1)?,
    })
}

fn load_erb_decoder(g: &Graph<'_, '_>, c: &Dfn3Config) -> Result<ErbDecoderWeights, WeightsError> {
    let ch = c.conv_ch;
    let [kt, kf] = c.conv_kernel;
    let [ktt, kft] = c.convt_kernel;
    let (emb, hidden, groups) = (c.emb_dim(), c.emb_hidden_dim, c.linear_groups);
    let layers = c.emb_num_layers - 1;
    let emb_gru =
        (0..layers).map(|k| g.gru(&gru_node_name("/emb_gru/GRU", k), hidden, hidden)).collect::<Result<_, _>>()?;
    let pathway = |name| g.conv(name, ch, [ch, 1, 1, 1], ch);
    Ok(ErbDecoderWeights {
        emb_gru_linear_in: g.grouped_linear("/emb_gru/linear_in/Einsum", groups, emb, hidden)?,
        emb_gru,
        emb_gru_linear_out: g.grouped_linear("/emb_gru/linear_out/Einsum", groups, hidden, emb)?,
        conv3p: pathway("/conv3p/0/Conv")?,
        convt3: g.separable(("/convt3/Conv", "Conv", ch, [ch, 1, kt, kf]), "/convt3/Conv_1", ch)?,
        conv2p: pathway("/conv2p/Conv")?,
        convt2: g.separable(
            ("/convt2/0/ConvTranspose", "ConvTranspose", ch, [ch, 1, ktt, kft]),
            "/convt2/1/Conv",
            ch,
        )?,
        conv1p: pathway("/conv1p/Conv")?,
        convt1: g.separable(("/convt1/ConvTranspose", "ConvTranspose", ch, [ch, 1, ktt, kft]), "/convt1/Conv", ch)?,
        conv0p: pathway("/conv0p/Conv")?,
        conv0_out: g.conv("/conv0_out/0/Conv", 1, [1, ch, kt, kf], 1)?,
    })
}

fn load_df_decoder(g: &Graph<'_, '_>, c: &Dfn3Config) -> Result<DfDecoderWeights, WeightsError> {
    let (emb, hidden, groups) = (c.emb_dim(), c.df_hidden_dim, c.linear_groups);
    let taps = c.df_order * 2;
    let df_gru = (0..c.df_num_layers)
        .map(|k| g.gru(&gru_node_name("/df_gru/gru/GRU", k), hidden, hidden))
        .collect::<Result<_, _>>()?;
    Ok(DfDecoderWeights {
        df_gru_linear_in: g.grouped_linear(
            "/df_gru/linear_in/linear_in.0/Einsum",
            DF_GRU_LINEAR_GROUPS,
            emb,
            hidden,
        )?,
        df_gru,
        df_skip: g.grouped_linear("/df_skip/Einsum", groups, emb, hidden)?,
        df_out: g.grouped_linear("/df_out/df_out.0/Einsum", groups, hidden, c.nb_df * taps)?,
        df_convp: g.separable(
            ("/df_convp/df_convp.1/Conv", "Conv", 2, [taps, c.conv_ch / 2, c.df_pathway_kernel_size_t, 1]),
            "/df_convp/df_convp.2/Conv",
            taps,
        )?,
        df_fc_a: g.linear("/df_fc_a/df_fc_a.0/MatMul", "/df_fc_a/df_fc_a.0/Add", hidden, 1)?,
    })
}
