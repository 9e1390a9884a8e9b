//! `Debug` of a device: every field outside a callback; inside its own callback
//! the part under the serialization lock shows as locked instead of deadlocking.

use readerkit_testkit::memory::device;
use readerkit_testkit::thread::hang_guarded;

#[test]
fn a_device_formats_outside_and_inside_its_own_callbacks() {
    hang_guarded("formatting a device inside its callback", || {
        let dev = device();
        dev.card_inserted();
        let outside = format!("{dev:?}");
        assert!(
            outside.contains("exclusive: Exclusive { driver: MemReader {"),
            "the driver's state: {outside}"
        );
        assert!(outside.contains("card: CardSlot {"), "{outside}");
        let inside = dev.with_driver(|_| format!("{dev:?}"));
        assert!(
            inside.contains("exclusive: <locked: a callback runs>"),
            "{inside}"
        );
        assert!(!inside.contains("MemReader"), "{inside}");
        assert!(inside.contains("card: CardSlot {"), "{inside}");
    });
}
