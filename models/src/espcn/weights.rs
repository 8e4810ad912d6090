//! ESPCN weights from a safetensors export (`models/train/espcn/export.py`).
//!
//! Tensors (float32, PyTorch OIHW order): `conv1.weight [64,1,5,5]`, `conv1.bias [64]`,
//! `conv2.weight [32,64,3,3]`, `conv2.bias [32]`, `conv3.weight [r²,32,3,3]`, `conv3.bias [r²]`.
//! Metadata: `scale` (r, must match conv3), `activation` of the two hidden layers (`tanh`, the
//! paper's choice, or `relu`; `tanh` when absent).

use std::path::{Path, PathBuf};

use sluice_engine::Activation;

use crate::safetensors::SafeTensors;
use crate::{Weight, WeightsError};

/// Upscaling factors with a bundled network.
pub const BUNDLED_SCALES: [usize; 3] = [2, 3, 4];

/// Largest factor accepted from a file (r² output channels).
pub const MAX_SCALE: usize = 8;

/// One convolution's kernel `[Cout][Cin][kh][kw]` and bias `[Cout]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvWeights {
    /// Kernel, OIHW.
    pub weight: Weight,
    /// Bias.
    pub bias: Weight,
}

/// The three layers of one ESPCN network and its factor.
#[derive(Debug, Clone, PartialEq)]
pub struct EspcnWeights {
    /// Upscaling factor r.
    pub scale: usize,
    /// Activation after conv1 and conv2.
    pub activation: Activation,
    /// 5×5, 1 → 64.
    pub conv1: ConvWeights,
    /// 3×3, 64 → 32.
    pub conv2: ConvWeights,
    /// 3×3, 32 → r² (then the pixel shuffle).
    pub conv3: ConvWeights,
}

/// `(name, Cout, Cin, k)` of the layers; conv3's Cout is r².
const LAYERS: [(&str, &str, usize, usize, usize); 3] = [
    ("conv1.weight", "conv1.bias", 64, 1, 5),
    ("conv2.weight", "conv2.bias", 32, 64, 3),
    ("conv3.weight", "conv3.bias", 0, 32, 3),
];

impl EspcnWeights {
    /// The file name of the bundled network for factor `scale`.
    pub fn bundled_file(scale: usize) -> String {
        format!("espcn_x{scale}.safetensors")
    }

    /// Where [`EspcnWeights::bundled`] looks: `espcn_x{r}.safetensors` found as
    /// [`crate::bundled::path`] says (`$SLUICE_MODELS_DIR`, else the checkout's `models/weights/`).
    pub fn bundled_path(scale: usize) -> PathBuf {
        let file = Self::bundled_file(scale);
        crate::bundled::path(&file)
    }

    /// Loads the network trained by this project for factor 2, 3 or 4 (`models/weights/`).
    pub fn bundled(scale: usize) -> Result<Self, WeightsError> {
        if !BUNDLED_SCALES.contains(&scale) {
            return Err(WeightsError::Metadata {
                file: Self::bundled_file(scale),
                key: "scale",
                reason: format!("no bundled network for factor {scale}; factors {BUNDLED_SCALES:?} are bundled"),
            });
        }
        Self::load(Self::bundled_path(scale))
    }

    /// Loads a safetensors file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, WeightsError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Io { path: path.to_owned(), source })?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Decodes the bytes of a safetensors file.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, WeightsError> {
        Self::parse(bytes, "<safetensors bytes>")
    }

    fn parse(bytes: &[u8], file: &str) -> Result<Self, WeightsError> {
        let st =
            SafeTensors::parse(bytes).map_err(|source| WeightsError::Safetensors { file: file.to_owned(), source })?;
        let meta_err =
            |key: &'static str, reason: String| WeightsError::Metadata { file: file.to_owned(), key, reason };
        let activation = match st.metadata("activation") {
            None | Some("tanh") => Activation::Tanh,
            Some("relu") => Activation::Relu,
            Some(other) => return Err(meta_err("activation", format!("{other:?} is not tanh or relu"))),
        };
        let tensor = |name: &'static str| {
            st.tensor(name).ok_or_else(|| WeightsError::NoTensor { file: file.to_owned(), tensor: name.to_owned() })
        };
        let out3 = tensor("conv3.weight")?.shape().first().copied().unwrap_or(0);
        let scale = (1..=MAX_SCALE).find(|r| r * r == out3).ok_or_else(|| WeightsError::TensorShape {
            file: file.to_owned(),
            tensor: "conv3.weight".to_owned(),
            expected: vec![9, 32, 3, 3],
            found: tensor("conv3.weight").map(|w| w.shape().to_vec()).unwrap_or_default(),
        })?;
        if let Some(s) = st.metadata("scale")
            && s.parse::<usize>().ok() != Some(scale)
        {
            return Err(meta_err("scale", format!("{s:?} disagrees with conv3's {out3} = {scale}² output channels")));
        }
        let mut convs = Vec::with_capacity(3);
        for (w_name, b_name, cout, cin, k) in LAYERS {
            let cout = if cout == 0 { scale * scale } else { cout };
            let check = |name: &'static str, expected: Vec<usize>| -> Result<Weight, WeightsError> {
                let t = tensor(name)?;
                if t.shape() != expected.as_slice() {
                    return Err(WeightsError::TensorShape {
                        file: file.to_owned(),
                        tensor: name.to_owned(),
                        expected,
                        found: t.shape().to_vec(),
                    });
                }
                Ok(t.clone())
            };
            convs.push(ConvWeights { weight: check(w_name, vec![cout, cin, k, k])?, bias: check(b_name, vec![cout])? });
        }
        let [conv1, conv2, conv3]: [ConvWeights; 3] =
            convs.try_into().map_err(|_| meta_err("layers", "expected three layers".into()))?;
        Ok(Self { scale, activation, conv1, conv2, conv3 })
    }

    /// Number of parameters (21 284 at x2, 22 729 at x3, 24 752 at x4).
    pub fn params(&self) -> usize {
        [&self.conv1, &self.conv2, &self.conv3].iter().map(|c| c.weight.len() + c.bias.len()).sum()
    }
}
