"""The deblurring networks (torch nn.Modules only; no file, video or training code)."""

from streamdeblur.nets.cgan import Discriminator, Generator
from streamdeblur.nets.composite import ImageModel, TwoStep
from streamdeblur.nets.hourglass import HG
from streamdeblur.nets.multiscale import Multiscale, structure_target
from streamdeblur.nets.nafnet import NAFNet
from streamdeblur.nets.unet import UNet

__all__ = ["HG", "Generator", "Discriminator", "Multiscale", "TwoStep", "ImageModel", "UNet", "NAFNet", "structure_target"]
