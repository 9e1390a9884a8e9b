//! What a host binding uses of a reader: [`AnyDevice`], a [`Device`] on the std
//! platform whatever its driver type, and [`Port`], the way in for requests, which
//! a reader that watches requests on their way to its device overrides.

use readerkit::ioctl::Request;
use readerkit::platform::StdPlatform;
use readerkit::{CardState, Device, Outcome};

/// A [`Device`] on the std platform, whatever its driver type: what a host binding
/// uses of it.
pub trait AnyDevice: Send + Sync {
    /// [`Device::submit`].
    fn submit(&self, request: Request<'_>, output: &mut [u8]) -> Outcome;
    /// [`Device::platform`] (a host's polling thread waits on it).
    fn platform(&self) -> &StdPlatform;
    /// [`Device::state`].
    fn state(&self) -> CardState;
    /// [`Device::card_insertions`].
    fn card_insertions(&self) -> u32;
    /// [`Device::process_events`].
    fn process_events(&self);
    /// [`Device::cancel_tracking`].
    fn cancel_tracking(&self) -> bool;
}

impl<D: Send> AnyDevice for Device<StdPlatform, D> {
    fn submit(&self, request: Request<'_>, output: &mut [u8]) -> Outcome {
        Device::submit(self, request, output)
    }
    fn platform(&self) -> &StdPlatform {
        Device::platform(self)
    }
    fn state(&self) -> CardState {
        Device::state(self)
    }
    fn card_insertions(&self) -> u32 {
        Device::card_insertions(self)
    }
    fn process_events(&self) {
        Device::process_events(self)
    }
    fn cancel_tracking(&self) -> bool {
        Device::cancel_tracking(self)
    }
}

/// What a host binding needs of a reader: its device, and the way in for requests.
///
/// Requests and tracking cancellations go through the port ([`Port::submit`],
/// [`Port::cancel_tracking`]), so that a reader can watch them; by default they
/// go straight to the device. Everything else is read from [`Port::device`].
pub trait Port: Send + Sync {
    /// The device behind the port.
    fn device(&self) -> &dyn AnyDevice;
    /// Every request of the host goes through here, typed; by default
    /// [`Device::submit`].
    fn submit(&self, request: Request<'_>, output: &mut [u8]) -> Outcome {
        self.device().submit(request, output)
    }
    /// [`Device::control`]: the request's bytes checked, then [`Port::submit`].
    fn control(&self, code: u32, input: &[u8], output: &mut [u8]) -> Outcome {
        match Request::parse(code, input, output.len()) {
            Ok(request) => self.submit(request, output),
            Err(status) => Outcome::Complete {
                status,
                bytes_written: 0,
            },
        }
    }
    /// Cancel a pending tracking request; by default [`Device::cancel_tracking`].
    fn cancel_tracking(&self) -> bool {
        self.device().cancel_tracking()
    }
}

/// A device without a port of its own: every request goes straight to it.
impl<D: Send> Port for Device<StdPlatform, D> {
    fn device(&self) -> &dyn AnyDevice {
        self
    }
}
