"""Events to dense frames with tonic's transforms: ``Denoise`` → ``Downsample`` → ``ToFrame``.

Layout: tonic's ``ToFrame`` gives ``[T, P, H, W]`` for an event camera and ``[T, P, X]``
for a 1-D sensor (SHD/SSC, one polarity). A frame keeps tonic's ``[P, H, W]`` for cameras
and drops the single polarity of 1-D sensors: ``[X]``.
"""

import numpy as np
import tonic.transforms

from ._config import DatasetSpec, FrameConfig, downsampled_size

__all__ = ["Framer"]


class Framer:
    """Turns one sample's structured event array into float32 frames ``[T, *features]``.

    Args:
        spec: the dataset.
        frames: the binning options.
        sensor_size: tonic's ``(x, y, p)`` sensor size of the raw events.
    """

    def __init__(self, spec: DatasetSpec, frames: FrameConfig, sensor_size: tuple[int, ...]):
        self.camera = spec.is_camera
        self.sensor_size = downsampled_size(tuple(sensor_size), frames.spatial_factor)
        self.n_frames = frames.n_frames(spec.duration_us)
        events = []
        if frames.denoise_us is not None:
            events.append(tonic.transforms.Denoise(filter_time=frames.denoise_us))
        if frames.spatial_factor is not None:
            events.append(tonic.transforms.Downsample(spatial_factor=frames.spatial_factor))
        self.event_transform = tonic.transforms.Compose(events)
        if frames.n_time_bins is not None and frames.duration is None and not spec.fixed_length:
            # tonic's own binning of each sample's first-to-last-event span.
            self.to_frame = tonic.transforms.ToFrame(
                sensor_size=self.sensor_size, n_time_bins=frames.n_time_bins
            )
        else:
            duration = frames.duration if frames.duration is not None else spec.duration_us
            window = frames.time_window or duration / frames.n_time_bins
            # end_time only sets the number of windows: half a window of slack makes tonic's
            # floor((end - window) / window) + 1 exactly n_frames despite rounding.
            self.to_frame = tonic.transforms.ToFrame(
                sensor_size=self.sensor_size,
                time_window=window,
                start_time=0,
                end_time=(self.n_frames + 0.5) * window,
            )
        w, h, p = self.sensor_size
        self.feature_shape = (p, h, w) if self.camera else (w,)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        """Frames ``[T, *feature_shape]`` (float32 event counts) of one sample."""
        out = np.zeros((self.n_frames, *self.feature_shape), dtype=np.float32)
        events = self.event_transform(events)
        if len(events) == 0:
            return out  # tonic's ToFrame returns [1, P, W, H] for no events; keep T
        frames = self.to_frame(events)
        if not self.camera:
            frames = frames[:, 0]
        n = min(len(frames), self.n_frames)
        out[:n] = frames[:n]
        return out
