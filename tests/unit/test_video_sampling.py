"""Video probing and sampling on real videos encoded here with PyAV (MPEG-4 Part 2)."""

from __future__ import annotations

import io
import random

import av
import numpy as np
import pytest
from PIL import Image

from shared.media import video as video_module
from shared.media.errors import MediaError
from shared.media.video import (
    SAMPLE_MS_DEFAULT,
    SAMPLE_MS_MAX,
    SAMPLE_MS_MIN,
    VideoLimits,
    check_samples,
    planned_samples,
    probe_video,
    sample_frames,
)

pytestmark = pytest.mark.skipif("mpeg4" not in av.codecs_available,
                                reason="FFmpeg build without the mpeg4 encoder")

LIMITS = VideoLimits()
RED, BLUE = (255, 0, 0), (0, 0, 255)


def encode_video(colours: list[tuple[tuple[int, int, int] | None, float]], *, fps: int = 10,
                 size: tuple[int, int] = (64, 48), fmt: str = "mp4",
                 rotation: int | None = None) -> bytes:
    """``colours``: (RGB, seconds) runs of solid frames, or of red-over-blue when None."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for colour, seconds in colours:
            arr = np.empty((size[1], size[0], 3), np.uint8)
            if colour is None:
                arr[: size[1] // 2], arr[size[1] // 2:] = RED, BLUE
            else:
                arr[:] = colour
            for _ in range(round(seconds * fps)):
                frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
                container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buf.getvalue()


def encode_audio(fmt: str, codec: str) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=16000, layout="mono")
        sample_fmt = stream.codec_context.format
        dtype = np.float32 if sample_fmt.name.startswith("flt") else np.int16
        wave = np.sin(np.arange(16000) / 5) * (0.3 if dtype == np.float32 else 8000)
        frame = av.AudioFrame.from_ndarray(wave.astype(dtype)[None, :],
                                           format=sample_fmt.name, layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buf.getvalue()


def error_code(call) -> str:
    with pytest.raises(MediaError) as caught:
        call()
    return caught.value.code


def colour_of(img: Image.Image) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.asarray(img).reshape(-1, 3).mean(axis=0).round())


def near(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return max(abs(a - b) for a, b in zip(colour, expected)) <= 12


@pytest.fixture(scope="module")
def red_blue() -> bytes:
    return encode_video([(RED, 3), (BLUE, 3)])  # 10 fps: 30 red then 30 blue frames


def test_probe_reads_the_metadata(red_blue):
    info = probe_video(red_blue, LIMITS)
    assert "mp4" in info.container and info.codec == "mpeg4"
    assert (info.width, info.height, info.frames) == (64, 48, 60)
    assert info.duration_seconds == pytest.approx(6.0, abs=0.11)
    assert info.fps == pytest.approx(10.0)
    assert SAMPLE_MS_MIN <= SAMPLE_MS_DEFAULT <= SAMPLE_MS_MAX


def test_one_sample_per_second_gives_times_and_colours(red_blue):
    samples = list(sample_frames(red_blue, 1000, LIMITS))
    assert [t for t, _ in samples] == [0, 1000, 2000, 3000, 4000, 5000]
    for time_ms, img in samples:
        assert img.mode == "RGB" and img.size == (64, 48)
        assert near(colour_of(img), RED if time_ms < 3000 else BLUE), time_ms
    assert planned_samples(probe_video(red_blue, LIMITS), 1000) == 6


@pytest.mark.parametrize("sample_ms", [100, 250, 500, 700, 3000])
def test_planned_samples_match_what_is_yielded(red_blue, sample_ms):
    times = [t for t, _ in sample_frames(red_blue, sample_ms, LIMITS)]
    assert planned_samples(probe_video(red_blue, LIMITS), sample_ms) == len(times)
    assert times == sorted(set(times)) and times[0] == 0
    assert all(t >= k * sample_ms for k, t in enumerate(times))
    if sample_ms == 500:
        assert times == list(range(0, 6000, 500))


def test_a_frame_is_sampled_at_most_once_when_fps_is_below_the_sampling_rate():
    data = encode_video([(RED, 2), (BLUE, 1)], fps=2)   # frames every 500 ms
    times = [t for t, _ in sample_frames(data, 100, LIMITS)]
    assert times == [0, 500, 1000, 1500, 2000, 2500]
    assert planned_samples(probe_video(data, LIMITS), 100) == 6


def test_max_side_shrinks_the_shorter_side():
    data = encode_video([(BLUE, 0.5)], size=(640, 480))
    _, img = next(iter(sample_frames(data, 1000, LIMITS, max_side=100)))
    assert img.size == (133, 100) and near(colour_of(img), BLUE)
    _, img = next(iter(sample_frames(data, 1000, LIMITS, max_side=1000)))
    assert img.size == (640, 480)                          # never enlarged


def test_mpegts_times_count_from_the_stream_start():
    data = encode_video([(RED, 1), (BLUE, 1)], fmt="mpegts")   # pts start near 1.4 s
    samples = list(sample_frames(data, 1000, LIMITS))
    assert [t for t, _ in samples] == [0, 1000]
    assert near(colour_of(samples[0][1]), RED) and near(colour_of(samples[1][1]), BLUE)


def test_display_rotation_is_applied():
    data = encode_video([(None, 0.2)], size=(64, 32), rotation=-90)  # quarter turn clockwise
    _, img = next(iter(sample_frames(data, 1000, LIMITS)))
    assert img.size == (32, 64)
    assert near(colour_of(img.crop((20, 0, 32, 64))), RED)     # the top went to the right
    assert near(colour_of(img.crop((0, 0, 12, 64))), BLUE)
    assert probe_video(data, LIMITS).width == 64               # coded size, as stored


def test_empty_too_large_and_non_videos_are_refused(red_blue):
    assert error_code(lambda: probe_video(b"", LIMITS)) == "empty"
    small = VideoLimits(max_bytes=len(red_blue) - 1)
    assert error_code(lambda: probe_video(red_blue, small)) == "too_large"
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(jpeg, "JPEG")
    assert error_code(lambda: probe_video(jpeg.getvalue(), LIMITS)) == "unsupported_format"
    text = b"this is not a video, just some text\n" * 20
    assert error_code(lambda: probe_video(text, LIMITS)) == "unsupported_format"
    assert error_code(lambda: list(sample_frames(text, 1000, LIMITS))) == "unsupported_format"


@pytest.mark.parametrize("fmt,codec", [("mp4", "aac"), ("wav", "pcm_s16le")])
def test_audio_only_files_have_no_video_stream(fmt, codec):
    if codec not in av.codecs_available:
        pytest.skip(f"no {codec} encoder")
    data = encode_audio(fmt, codec)
    assert error_code(lambda: probe_video(data, LIMITS)) == "no_video_stream"


def test_metadata_limits(red_blue):
    assert error_code(lambda: probe_video(red_blue, VideoLimits(max_seconds=5))) == "too_long"
    assert error_code(lambda: probe_video(red_blue, VideoLimits(max_pixels=64 * 47))) \
        == "too_large_dimensions"
    assert error_code(lambda: probe_video(red_blue, VideoLimits(max_frames=59))) \
        == "too_many_frames"
    few = VideoLimits(max_samples=59)
    info = probe_video(red_blue, few)
    check_samples(info, 200, few)
    assert error_code(lambda: check_samples(info, 100, few)) == "too_many_samples"
    assert error_code(lambda: list(sample_frames(red_blue, 100, few))) == "too_many_samples"
    assert error_code(lambda: list(sample_frames(red_blue, 1000, VideoLimits(max_seconds=5)))) \
        == "too_long"


def test_frame_count_is_enforced_while_decoding_when_metadata_lacks_it():
    data = encode_video([(RED, 2)], fmt="mpegts")
    limits = VideoLimits(max_frames=15)
    assert probe_video(data, limits).frames is None
    samples = sample_frames(data, 100, limits)
    assert error_code(lambda: list(samples)) == "too_many_frames"


@pytest.mark.parametrize("sample_ms", [0, 99, 60_001, 1.5, True, "1000"])
def test_sample_ms_out_of_range_is_refused_at_once(red_blue, sample_ms):
    assert error_code(lambda: sample_frames(red_blue, sample_ms, LIMITS)) == "invalid_sample_ms"
    info = probe_video(red_blue, LIMITS)
    assert error_code(lambda: planned_samples(info, sample_ms)) == "invalid_sample_ms"


@pytest.mark.parametrize("fmt", ["mp4", "mpegts", "matroska"])
def test_truncated_or_damaged_videos_only_ever_raise_media_errors(fmt):
    data = encode_video([(RED, 1), (BLUE, 1)], fmt=fmt)
    rng = random.Random(fmt)
    damaged = [data[:n] for n in range(1, len(data), max(1, len(data) // 15))]
    for _ in range(15):
        flipped = bytearray(data)
        for _ in range(5):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        damaged.append(bytes(flipped))
    for bad in damaged:
        try:
            samples = list(sample_frames(bad, 500, LIMITS))
        except MediaError as exc:
            assert exc.code in {"corrupt", "no_frames", "unsupported_format",
                                "no_video_stream", "too_long", "too_large_dimensions"}
        else:  # fewer frames, or damaged timestamps: still well-formed samples
            assert all(isinstance(t, int) and img.mode == "RGB" for t, img in samples)


def test_an_abandoned_generator_closes_its_container(red_blue, monkeypatch):
    opened = []
    real_open = av.open

    def recording_open(*args, **kwargs):
        opened.append(real_open(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(video_module.av, "open", recording_open)
    samples = sample_frames(red_blue, 1000, LIMITS)
    assert next(samples)[0] == 0
    samples.close()
    with pytest.raises(AssertionError, match="not open"):  # PyAV's check on a closed one
        _ = opened[0].duration


def test_check_video_reads_the_caps_and_a_first_frame_in_one_go():
    from shared.media.video import check_video
    from tests.media import make_frameless_video, make_video, photo

    info = check_video(make_video([(photo("cat"), 2)]), 1000, VideoLimits())
    assert (info.width, info.height) == (320, 240)
    for data, limits, code in (
        (make_frameless_video(), VideoLimits(), "no_frames"),
        (make_video([(photo("cat"), 3)]), VideoLimits(max_samples=2), "too_many_samples"),
        (make_video([(photo("cat"), 3)]), VideoLimits(max_seconds=2.0), "too_long"),
    ):
        with pytest.raises(MediaError) as caught:
            check_video(data, 1000, limits)
        assert caught.value.code == code
