//! [`DeclutterJob`]: a whole clip through the clutter filter — a video file (demuxed and decoded
//! by [`crate::video`]'s source and decoder), a folder of PNG/JPEG frames, an archive of them
//! ([`super::archive`], unpacked to a temporary folder) or a multi-frame DICOM file
//! ([`super::dicom`]), frame by frame through one [`DeclutterStage`], into a video
//! ([`GreyVideo`]: H.264/MP4 or VP9/WebM, grey as limited-range 4:2:0 with neutral chroma, the
//! input's timestamps or the folder's or DICOM's frame rate), a folder of grey PNG frames, or a
//! multi-frame grey DICOM. Audio is not carried (echo clips have none) and a display rotation is
//! not applied.
//!
//! What the input is comes from its content (a DICOM preamble, ZIP/gzip/tar magic), then its
//! name (`.dcm`, `.zip`, `.tar`, `.tar.gz`); anything else is opened as a video.
//!
//! Memory stays bounded whatever the length: one decoded frame, the stage's buffers, one output
//! frame and the codec queues.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ffmpeg_next::{Packet, Rational};
use sluice_engine::Threads;
use sluice_models::clutter::Clutter;

use super::archive::{ArchiveKind, Unpacked, unpack};
use super::dicom::write::DicomCoding;
use super::dicom::{DicomSource, DicomWriter, is_dicom};
use super::error::DeclutterError;
use super::frames::{decode_image, list_frames, open_image, write_png};
use super::stage::DeclutterStage;
use crate::echo::grey_video::GreyVideo;
use crate::video::colour::Colour;
use crate::video::decode::DecodedFrame;
use crate::video::source::VideoSource;
use crate::video::stage::{Plane, PlaneMut};
use crate::video::{Container, OutputTarget, Range, VideoError};

/// Options of a job.
#[derive(Debug, Clone, Copy)]
pub struct DeclutterOptions {
    /// Constant rate factor for video outputs (H.264 0–51, VP9 0–63); `None` = the codec's default here.
    pub crf: Option<u8>,
    /// Frame rate given to a frame folder's or archive's frames, and to a DICOM file whose
    /// timing tags give none (a video keeps its own timing).
    pub folder_fps: f64,
}

impl Default for DeclutterOptions {
    fn default() -> Self {
        Self { crf: None, folder_fps: 30.0 }
    }
}

/// Where the result goes.
#[derive(Debug)]
pub enum DeclutterTarget {
    /// A video: `.mp4` (H.264) or `.webm` (VP9), to a file or a pipe.
    Video(OutputTarget, Container),
    /// An existing folder that receives `000000.png`, `000001.png`, … (8-bit grey).
    Frames(PathBuf),
    /// A multi-frame grey DICOM: JPEG baseline for a JPEG DICOM input, else explicit VR little
    /// endian. Needs an input whose frame count is known first (not a video).
    Dicom(OutputTarget),
}

/// What kind of input a job reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A video file.
    Video,
    /// A folder of PNG/JPEG frames.
    Folder,
    /// An archive of PNG/JPEG frames.
    Archive(ArchiveKind),
    /// A multi-frame DICOM file.
    Dicom,
}

/// What the input is.
#[derive(Debug, Clone)]
pub struct ClipInfo {
    /// Frame (width, height).
    pub size: (usize, usize),
    /// Frames: exact for a folder, archive or DICOM, as announced for a video (if it does).
    pub frames: Option<u64>,
    /// Frames per second: the video's average rate, the DICOM timing tags' rate, or the folder
    /// rate asked for.
    pub fps: Option<f64>,
    /// Whether the input is a frame folder or archive.
    pub folder: bool,
    /// What the input is.
    pub kind: InputKind,
}

/// What a finished job did.
#[derive(Debug, Clone)]
pub struct DeclutterSummary {
    /// Frames filtered and written.
    pub frames: u64,
    /// Frame (width, height) of the input.
    pub input_size: (usize, usize),
    /// Frame (width, height) written (a video crops an odd side by one for 4:2:0).
    pub output_size: (usize, usize),
    /// Damaged video packets or frames skipped (the decoder's concealment covers them).
    pub skipped: u64,
    /// Wall time of the pass.
    pub elapsed: Duration,
}

impl DeclutterSummary {
    /// Frames per second of wall time.
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

enum Source {
    Video(Box<VideoSource>),
    /// A folder's or an archive's frames (the unpacked archive lives as long as the job).
    Folder {
        files: Vec<PathBuf>,
        first: Box<VideoSource>,
        unpacked: Option<Unpacked>,
    },
    Dicom(Box<DicomSource>),
}

/// An opened clip, ready to be filtered into a target.
pub struct DeclutterJob {
    source: Source,
    stage: DeclutterStage,
    info: ClipInfo,
    options: DeclutterOptions,
}

impl DeclutterJob {
    /// Opens `input` — a folder of frames if it is a directory, else a DICOM file, a frame
    /// archive or a video file (see the module notes) — and plans the filter for its frame size
    /// on `threads`.
    pub fn open(
        input: &Path,
        model: &Clutter,
        threads: Arc<Threads>,
        options: DeclutterOptions,
    ) -> Result<Self, DeclutterError> {
        if !(options.folder_fps.is_finite() && (0.01..=1000.0).contains(&options.folder_fps)) {
            return Err(DeclutterError::Video(VideoError::InvalidConfig(format!(
                "frame rate {} must be in 0.01..=1000",
                options.folder_fps
            ))));
        }
        let folder =
            |files: Vec<PathBuf>, unpacked: Option<Unpacked>, kind| -> Result<(Source, ClipInfo), DeclutterError> {
                let first = match open_image(&files[0]) {
                    Ok(first) => Box::new(first),
                    Err(e) => return Err(relabel(unpacked.as_ref(), e)),
                };
                let info = ClipInfo {
                    size: first.info.size,
                    frames: Some(files.len() as u64),
                    fps: Some(options.folder_fps),
                    folder: true,
                    kind,
                };
                Ok((Source::Folder { files, first, unpacked }, info))
            };
        let (source, info) = match input_kind(input) {
            InputKind::Folder => folder(list_frames(input)?, None, InputKind::Folder)?,
            InputKind::Archive(kind) => {
                let unpacked = unpack(input, kind)?;
                folder(unpacked.files.clone(), Some(unpacked), InputKind::Archive(kind))?
            }
            InputKind::Dicom => {
                let dicom = Box::new(DicomSource::open(input)?);
                let info = ClipInfo {
                    size: dicom.size(),
                    frames: Some(dicom.frames()),
                    fps: Some(dicom.fps.unwrap_or(options.folder_fps)),
                    folder: false,
                    kind: InputKind::Dicom,
                };
                (Source::Dicom(dicom), info)
            }
            InputKind::Video => {
                let video = Box::new(VideoSource::open(input)?);
                let i = &video.info;
                let info = ClipInfo {
                    size: i.size,
                    frames: i.frames,
                    fps: i.frame_rate.map(f64::from),
                    folder: false,
                    kind: InputKind::Video,
                };
                (Source::Video(video), info)
            }
        };
        let stage = DeclutterStage::new(model, info.size.0, info.size.1, threads)?;
        Ok(Self { source, stage, info, options })
    }

    /// What the input is.
    pub fn info(&self) -> &ClipInfo {
        &self.info
    }

    /// Runs the pass into `target`, calling `on_frame(frames_done)` after each frame. On error
    /// the target holds a partial result: callers writing files use a temporary path and
    /// rename it on success.
    pub fn run(
        self,
        target: DeclutterTarget,
        on_frame: &mut dyn FnMut(u64),
    ) -> Result<DeclutterSummary, DeclutterError> {
        let start = Instant::now();
        let Self { source, mut stage, info, options } = self;
        let (w, h) = info.size;
        let (time_base, rate) = match &source {
            Source::Video(v) => (v.time_base, v.info.frame_rate),
            Source::Folder { .. } | Source::Dicom(_) => {
                let fps = Rational::from(info.fps.unwrap_or(options.folder_fps)).reduce();
                (fps.invert(), Some(fps))
            }
        };
        let mut sink = match target {
            DeclutterTarget::Dicom(out) => {
                let fps = info.fps.unwrap_or(options.folder_fps);
                match &source {
                    // A video's frame count is known only once it is decoded, and a DICOM header
                    // states it up front: spool the filtered frames, write the file at the end.
                    Source::Video(_) => Sink::dicom_spool(out, (w, h), fps)?,
                    Source::Dicom(d) => {
                        let coding = if d.jpeg { DicomCoding::Jpeg } else { DicomCoding::Native };
                        let frames = info.frames.unwrap_or(0);
                        Sink::dicom(open_dicom(out, Some(&d.header), (w, h), frames, fps, coding)?, (w, h))
                    }
                    Source::Folder { .. } => {
                        let frames = info.frames.unwrap_or(0);
                        Sink::dicom(open_dicom(out, None, (w, h), frames, fps, DicomCoding::Native)?, (w, h))
                    }
                }
            }
            other => Sink::open(other, (w, h), time_base, rate, options.crf)?,
        };
        let (frames, skipped) = match source {
            Source::Video(mut v) => {
                let frames = run_video(&mut v, &mut stage, &mut sink, on_frame)?;
                (frames, v.decoder.damage().0)
            }
            Source::Folder { files, first, unpacked } => {
                let done = run_folder(&files, *first, &mut stage, &mut sink, on_frame);
                (done.map_err(|e| relabel(unpacked.as_ref(), e))?, 0)
            }
            Source::Dicom(mut d) => (run_dicom(&mut d, &mut stage, &mut sink, on_frame)?, 0),
        };
        let output_size = sink.finish()?;
        Ok(DeclutterSummary { frames, input_size: (w, h), output_size, skipped, elapsed: start.elapsed() })
    }
}

/// Every frame of a video file.
fn run_video(
    v: &mut VideoSource,
    stage: &mut DeclutterStage,
    sink: &mut Sink,
    on_frame: &mut dyn FnMut(u64),
) -> Result<u64, DeclutterError> {
    let shift = v.shift();
    let colour = v.decoder.colour();
    let (mut frames, mut video_packets) = (0u64, 0u64);
    let mut packet = Packet::empty();
    let mut read_error = None;
    let mut each = |frame: DecodedFrame<'_>, done: &mut u64| -> Result<(), DeclutterError> {
        sink.frame(stage, frame.planes, colour, frame.pts.map(|t| t - shift), frame.duration, *done)?;
        *done += 1;
        on_frame(*done);
        Ok(())
    };
    loop {
        match packet.read(&mut v.input) {
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => break,
            Err(e) => {
                // A read error mid-file: decode what came, then report it.
                read_error = Some(e);
                break;
            }
        }
        if packet.stream() == v.video_index {
            video_packets += 1;
            v.decoder.send(&packet);
            while let Some(frame) = v.decoder.receive()? {
                each(frame, &mut frames)?;
            }
        }
    }
    v.decoder.send_eof()?;
    while let Some(frame) = v.decoder.receive()? {
        each(frame, &mut frames)?;
    }
    v.check_end(frames, video_packets, read_error)?;
    Ok(frames)
}

/// Every file of a frame folder, at one frame per time-base tick.
fn run_folder(
    files: &[PathBuf],
    first: VideoSource,
    stage: &mut DeclutterStage,
    sink: &mut Sink,
    on_frame: &mut dyn FnMut(u64),
) -> Result<u64, DeclutterError> {
    let first_size = first.info.size;
    let mut opened = Some(first);
    for (i, path) in files.iter().enumerate() {
        let mut image = match opened.take() {
            Some(image) => image,
            None => open_image(path)?,
        };
        if image.info.size != first_size {
            return Err(DeclutterError::MixedSizes {
                path: path.clone(),
                size: image.info.size,
                first: files[0].clone(),
                first_size,
            });
        }
        let index = i as u64;
        decode_image(&mut image, &mut |frame, colour| {
            sink.frame(stage, frame.planes, colour, Some(index as i64), Some(1), index)
        })?;
        on_frame(index + 1);
    }
    Ok(files.len() as u64)
}

/// `e` with an archive's temporary frame paths named as its members.
fn relabel(unpacked: Option<&Unpacked>, e: DeclutterError) -> DeclutterError {
    match unpacked {
        Some(u) => u.relabel(e),
        None => e,
    }
}

/// What `input` is: a folder, a DICOM file (preamble, or a `.dcm` name), a frame archive, or
/// else a video.
pub fn input_kind(input: &Path) -> InputKind {
    if input.is_dir() {
        return InputKind::Folder;
    }
    let mut head = Vec::with_capacity(512);
    if let Ok(file) = std::fs::File::open(input) {
        use std::io::Read;
        let _ = file.take(512).read_to_end(&mut head);
    }
    let dcm = input.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("dcm"));
    if is_dicom(&head) || dcm {
        return InputKind::Dicom;
    }
    ArchiveKind::detect(&head, input).map_or(InputKind::Video, InputKind::Archive)
}

/// Every frame of a DICOM file, at one frame per time-base tick.
fn run_dicom(
    d: &mut DicomSource,
    stage: &mut DeclutterStage,
    sink: &mut Sink,
    on_frame: &mut dyn FnMut(u64),
) -> Result<u64, DeclutterError> {
    let (w, h) = d.size();
    let mut grey = vec![0u8; w * h];
    let none = Plane { data: &[], stride: 0, width: 0, height: 0 };
    for i in 0..d.frames() {
        d.read_frame(i, &mut grey)?;
        let planes = [Plane { data: &grey, stride: w, width: w, height: h }, none, none];
        // Grey as full-range BT.601 luma: the stage reads it as is.
        sink.frame(stage, planes, Colour::JPEG, Some(i as i64), Some(1), i)?;
        on_frame(i + 1);
    }
    Ok(d.frames())
}

/// The output side.
enum Sink {
    Video(Box<GreyVideo>),
    Frames {
        dir: PathBuf,
        grey: Vec<u8>,
        size: (usize, usize),
    },
    Dicom {
        writer: Box<DicomWriter>,
        grey: Vec<u8>,
        size: (usize, usize),
    },
    /// A DICOM of a video: filtered frames go to an unnamed temporary file (w·h bytes each, so
    /// memory stays bounded whatever the length) until the count is known.
    DicomSpool(Box<DicomSpool>),
}

/// The state of [`Sink::DicomSpool`].
struct DicomSpool {
    target: OutputTarget,
    spool: std::io::BufWriter<std::fs::File>,
    grey: Vec<u8>,
    size: (usize, usize),
    frames: u64,
    fps: f64,
}

/// An I/O error of the DICOM output.
fn dicom_io(source: std::io::Error) -> DeclutterError {
    DeclutterError::Io { path: PathBuf::from("DICOM output"), source }
}

impl Sink {
    fn dicom(writer: DicomWriter, size: (usize, usize)) -> Self {
        Self::Dicom { writer: Box::new(writer), grey: vec![0; size.0 * size.1], size }
    }

    fn dicom_spool(target: OutputTarget, size: (usize, usize), fps: f64) -> Result<Self, DeclutterError> {
        // Beside the output file when there is one (the same file system, sized for the
        // result), else in the temporary directory.
        let dir = match &target {
            OutputTarget::File(path) => {
                path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(std::env::temp_dir, Path::to_path_buf)
            }
            OutputTarget::Pipe(_) => std::env::temp_dir(),
        };
        let file = tempfile::tempfile_in(&dir).map_err(|source| DeclutterError::Io { path: dir, source })?;
        Ok(Self::DicomSpool(Box::new(DicomSpool {
            target,
            spool: std::io::BufWriter::new(file),
            grey: vec![0; size.0 * size.1],
            size,
            frames: 0,
            fps,
        })))
    }

    fn open(
        target: DeclutterTarget,
        (w, h): (usize, usize),
        time_base: Rational,
        frame_rate: Option<Rational>,
        crf: Option<u8>,
    ) -> Result<Self, DeclutterError> {
        match target {
            DeclutterTarget::Video(_, container) if container.is_image() => Err(DeclutterError::UnsupportedOutput {
                path: PathBuf::from(format!("{container:?}").to_ascii_lowercase()),
                reason: "a clip is written as a video (.mp4, .webm) or a folder of PNG frames".into(),
            }),
            DeclutterTarget::Video(target, container) => {
                Ok(Self::Video(Box::new(GreyVideo::open(target, container, (w, h), time_base, frame_rate, crf)?)))
            }
            DeclutterTarget::Frames(dir) => Ok(Self::Frames { dir, grey: vec![0; w * h], size: (w, h) }),
            DeclutterTarget::Dicom(_) => Err(DeclutterError::UnsupportedOutput {
                path: PathBuf::from("dcm"),
                reason: "a DICOM output is opened with its input's header".into(),
            }),
        }
    }

    /// Filters one decoded frame and writes it (`index` from 0).
    fn frame(
        &mut self,
        stage: &mut DeclutterStage,
        planes: [crate::video::Plane<'_>; 3],
        colour: Colour,
        pts: Option<i64>,
        duration: Option<i64>,
        index: u64,
    ) -> Result<(), DeclutterError> {
        match self {
            Self::Video(video) => {
                let range = video.range();
                stage.process_ycbcr(planes, colour, &mut video.luma(), range)?;
                video.encode(pts, duration)?;
            }
            Self::Frames { dir, grey, size: (w, h) } => {
                let mut dst = PlaneMut { data: grey, stride: *w, width: *w, height: *h };
                stage.process_ycbcr(planes, colour, &mut dst, Range::Full)?;
                write_png(&dir.join(format!("{index:06}.png")), *w, *h, grey)?;
            }
            Self::Dicom { writer, grey, size: (w, h) } => {
                let mut dst = PlaneMut { data: grey, stride: *w, width: *w, height: *h };
                stage.process_ycbcr(planes, colour, &mut dst, Range::Full)?;
                writer.frame(grey).map_err(dicom_io)?;
            }
            Self::DicomSpool(s) => {
                let (w, h) = s.size;
                let mut dst = PlaneMut { data: &mut s.grey, stride: w, width: w, height: h };
                stage.process_ycbcr(planes, colour, &mut dst, Range::Full)?;
                s.spool.write_all(&s.grey).map_err(spool_io)?;
                s.frames += 1;
            }
        }
        Ok(())
    }

    /// Flushes and closes; returns the size written.
    fn finish(self) -> Result<(usize, usize), DeclutterError> {
        match self {
            Self::Video(video) => Ok(video.finish()?),
            Self::Frames { size, .. } => Ok(size),
            Self::Dicom { writer, size, .. } => {
                writer.finish().map_err(dicom_io)?;
                Ok(size)
            }
            Self::DicomSpool(s) => {
                let DicomSpool { target, spool, mut grey, size, frames, fps } = *s;
                let mut spool = spool.into_inner().map_err(|e| spool_io(e.into_error()))?;
                spool.seek(std::io::SeekFrom::Start(0)).map_err(spool_io)?;
                let mut spool = std::io::BufReader::new(spool);
                let mut writer = open_dicom(target, None, size, frames, fps, DicomCoding::Native)?;
                for _ in 0..frames {
                    spool.read_exact(&mut grey).map_err(spool_io)?;
                    writer.frame(&grey).map_err(dicom_io)?;
                }
                writer.finish().map_err(dicom_io)?;
                Ok(size)
            }
        }
    }
}

/// A DICOM writer on `target` (header and identity as [`DicomWriter::new`] makes them).
fn open_dicom(
    target: OutputTarget,
    header: Option<&super::dicom::DicomHeader>,
    size: (usize, usize),
    frames: u64,
    fps: f64,
    coding: DicomCoding,
) -> Result<DicomWriter, DeclutterError> {
    let out: Box<dyn Write + Send> = match target {
        OutputTarget::File(path) => {
            let file = std::fs::File::create(&path).map_err(|source| DeclutterError::Io { path, source })?;
            Box::new(std::io::BufWriter::new(file))
        }
        OutputTarget::Pipe(pipe) => Box::new(std::io::BufWriter::new(pipe)),
    };
    DicomWriter::new(out, header, size, frames, fps, coding).map_err(dicom_io)
}

/// An I/O error of the spool of a DICOM output.
fn spool_io(source: std::io::Error) -> DeclutterError {
    DeclutterError::Io { path: PathBuf::from("DICOM output spool (temporary file)"), source }
}
