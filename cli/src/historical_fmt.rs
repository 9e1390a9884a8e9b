//! The historical bytes for people and for scripts: the core's checked view
//! ([`readerkit::atr::Historical`]) as text lines and as a JSON value.

use std::fmt::Write;

use readerkit::atr::historical::{
    CardCapabilities, CardService, Chaining, Data, DataCoding, EfAccess, Error, Historical,
    LifeCycle, Object, StatusIndicator,
};
use readerkit::sw::StatusWord;
use serde_json::{Value, json};

use crate::hex;

/// The decoding, indented by two spaces, one item per line (after the
/// "Historical bytes" line the caller prints).
pub(crate) fn text(bytes: &[u8]) -> String {
    let mut s = String::new();
    let Some(&indicator) = bytes.first() else {
        return s;
    };
    let _ = writeln!(s, "  ASCII: \"{}\"", hex::ascii(bytes));
    let view = Historical::parse(bytes);
    let category = readerkit::atr::Category::from_indicator(indicator);
    let _ = writeln!(
        s,
        "  Category indicator: {indicator:02X} ({})",
        category.description()
    );
    let h = match view {
        Ok(h) => h,
        Err(e) => {
            let _ = writeln!(s, "    ERROR in the historical bytes: {e}");
            objects_before_error(&mut s, bytes, e);
            if let Some(status) = status_despite_error(bytes) {
                s.push_str("    Status indicator (last 3 bytes):\n");
                status_text(&mut s, status);
            }
            return s;
        }
    };
    for object in h.objects() {
        object_text(&mut s, &object);
    }
    if let Some(status) = h.status_at_end() {
        s.push_str("    Status indicator (last 3 bytes):\n");
        status_text(&mut s, status);
    }
    if let Some(reference) = h.dir_reference() {
        let _ = writeln!(s, "    DIR data reference: {reference:02X}");
    }
    let rest = h.unstructured();
    if !rest.is_empty() {
        let _ = writeln!(
            s,
            "    Data: {} (\"{}\")",
            hex::encode(rest, " "),
            hex::ascii(rest)
        );
    }
    s
}

/// For a truncated COMPACT-TLV list, the objects that are whole, then the rest.
fn objects_before_error(s: &mut String, bytes: &[u8], e: Error) {
    if let Error::Truncated { offset, .. } = e {
        // The prefix up to the broken object is itself a valid category 80 list.
        let mut prefix = vec![0x80];
        prefix.extend_from_slice(bytes.get(1..offset).unwrap_or(&[]));
        if let Ok(h) = Historical::parse(&prefix) {
            for object in h.objects() {
                object_text(s, &object);
            }
        }
        let end = match status_despite_error(bytes) {
            Some(_) => bytes.len() - 3,
            None => bytes.len(),
        };
        let rest = bytes.get(offset..end).unwrap_or(&[]);
        let _ = writeln!(s, "    Undecoded: {}", hex::encode(rest, " "));
    }
}

/// The status indicator of category 00 (its last 3 bytes), which stands apart from
/// the objects and means what it means even when they are malformed.
fn status_despite_error(bytes: &[u8]) -> Option<StatusIndicator> {
    let (&indicator, after) = bytes.split_first()?;
    let &[lcs, sw1, sw2] = after.last_chunk::<3>()?;
    // Of category 00, the indicator and the last 3 bytes alone are a valid list
    // whatever lies between, and the core reads its status indicator (another
    // category has none).
    Historical::parse(&[indicator, lcs, sw1, sw2])
        .ok()?
        .status_at_end()
}

fn object_text(s: &mut String, o: &Object<'_>) {
    let _ = writeln!(
        s,
        "    Tag: {:X}, len: {} ({})",
        o.tag,
        o.value.len(),
        o.name()
    );
    let bytes = |s: &mut String, label: &str, v: &[u8]| {
        if !v.is_empty() {
            let _ = writeln!(
                s,
                "      {label}: {} (\"{}\")",
                hex::encode(v, " "),
                hex::ascii(v)
            );
        }
    };
    match o.data() {
        Data::CountryCode(v) => bytes(s, "Country code", v),
        Data::IssuerIdentification(v) => bytes(s, "Issuer identification number", v),
        Data::CardService(cs) => {
            let _ = writeln!(s, "      Card service data byte: {:02X}", cs.0);
            for line in card_service_lines(cs) {
                let _ = writeln!(s, "        - {line}");
            }
        }
        Data::InitialAccess(v) => bytes(s, "Initial access data", v),
        Data::CardIssuer(v) => bytes(s, "Card issuer's data", v),
        Data::PreIssuing(v) => bytes(s, "Pre-issuing data", v),
        Data::CardCapabilities(caps) => capabilities_text(s, &caps),
        Data::Status(status) => status_text(s, status),
        Data::ApplicationIdentifier(v) => bytes(s, "Application identifier", v),
        Data::BadLength(v) => bytes(s, "WRONG length for this tag", v),
        Data::Reserved(v) => bytes(s, "Value (tag reserved)", v),
    }
}

/// The text of each flag that is set, in order.
fn set_flags(flags: &[(bool, &str)]) -> Vec<String> {
    flags
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, text)| text.to_string())
        .collect()
}

fn card_service_lines(cs: CardService) -> Vec<String> {
    let mut lines = set_flags(&[
        (
            cs.selection_by_full_df_name(),
            "Application selection: by full DF name",
        ),
        (
            cs.selection_by_partial_df_name(),
            "Application selection: by partial DF name",
        ),
        (
            cs.data_objects_in_ef_dir(),
            "BER-TLV data objects available in EF.DIR",
        ),
        (
            cs.data_objects_in_ef_atr(),
            "BER-TLV data objects available in EF.ATR/INFO",
        ),
    ]);
    lines.push(format!(
        "EF.DIR and EF.ATR/INFO access services: {}",
        ef_access_text(cs.ef_access())
    ));
    lines.push(
        if cs.has_mf() {
            "Card with MF"
        } else {
            "Card without MF"
        }
        .to_string(),
    );
    lines
}

fn ef_access_text(a: EfAccess) -> String {
    match a {
        EfAccess::ReadBinary => "by READ BINARY command".to_string(),
        EfAccess::GetData => "by GET DATA command".to_string(),
        EfAccess::ReadRecord => "by READ RECORD(S) command".to_string(),
        EfAccess::Reserved(bits) => format!("reserved for future use ({bits:03b})"),
    }
}

fn ef_access_name(a: EfAccess) -> &'static str {
    match a {
        EfAccess::ReadBinary => "read_binary",
        EfAccess::GetData => "get_data",
        EfAccess::ReadRecord => "read_record",
        EfAccess::Reserved(_) => "reserved",
    }
}

fn coding_lines(dc: DataCoding) -> Vec<String> {
    let mut lines = set_flags(&[(dc.tlv_efs(), "EF of TLV structure supported")]);
    lines.push(format!(
        "Behaviour of write functions: {}",
        dc.write_behaviour().description()
    ));
    lines.push(format!(
        "Value 'FF' for the first byte of BER-TLV tag fields: {}",
        if dc.ff_tag_valid() {
            "valid"
        } else {
            "invalid"
        }
    ));
    lines.push(format!(
        "Data unit in quartets: {}",
        dc.data_unit_quartets()
    ));
    lines
}

fn chaining_lines(cc: Chaining) -> Vec<String> {
    let mut lines = set_flags(&[
        (cc.command_chaining(), "Command chaining"),
        (cc.extended_lengths(), "Extended Lc and Le fields"),
        (
            cc.extended_length_info(),
            "Extended length information in EF.ATR/INFO",
        ),
    ]);
    lines.push(format!(
        "Logical channel number assignment: {}",
        cc.channel_assignment().description()
    ));
    lines.push(format!(
        "Maximum number of logical channels: {}{}",
        cc.max_channels(),
        if cc.max_channels() == 8 {
            " or more"
        } else {
            ""
        }
    ));
    lines
}

fn capabilities_text(s: &mut String, caps: &CardCapabilities<'_>) {
    let _ = writeln!(s, "      Selection methods: {:02X}", caps.selection.0);
    for method in caps.selection.iter() {
        let _ = writeln!(s, "        - {method}");
    }
    if let Some(dc) = caps.coding {
        let _ = writeln!(s, "      Data coding byte: {:02X}", dc.0);
        for line in coding_lines(dc) {
            let _ = writeln!(s, "        - {line}");
        }
    }
    if let Some(cc) = caps.chaining {
        let _ = writeln!(
            s,
            "      Command chaining, length fields and logical channels: {:02X}",
            cc.0
        );
        for line in chaining_lines(cc) {
            let _ = writeln!(s, "        - {line}");
        }
    }
    if !caps.extra.is_empty() {
        let _ = writeln!(s, "      Further bytes: {}", hex::encode(caps.extra, " "));
    }
}

fn status_text(s: &mut String, status: StatusIndicator) {
    if let Some(lcs) = status.lcs {
        let _ = writeln!(
            s,
            "      LCS (life cycle status): {:02X} ({})",
            lcs.0,
            lcs.state().description()
        );
    }
    if let Some(sw) = status.sw {
        let _ = writeln!(s, "      SW: {:02X} {:02X} ({sw})", sw.sw1(), sw.sw2());
    }
}

/// The decoding as one JSON object (the `historical_bytes` key of `atr --json`);
/// `null` without historical bytes.
pub(crate) fn json(bytes: &[u8]) -> Value {
    let Some(&indicator) = bytes.first() else {
        return Value::Null;
    };
    let category = readerkit::atr::Category::from_indicator(indicator);
    let mut out = json!({
        "category_indicator": indicator,
        "category": category.name(),
        "description": category.description(),
        "ascii": hex::ascii(bytes),
    });
    match Historical::parse(bytes) {
        Ok(h) => {
            out["objects"] = h.objects().map(|o| object_json(&o)).collect();
            out["status"] = h.status_at_end().map_or(Value::Null, status_json);
            out["dir_reference"] = json!(h.dir_reference());
            out["unstructured"] = json!(hex::encode(h.unstructured(), ""));
            out["error"] = Value::Null;
        }
        Err(e) => {
            out["objects"] = json!([]);
            out["status"] = status_despite_error(bytes).map_or(Value::Null, status_json);
            out["dir_reference"] = Value::Null;
            out["unstructured"] = json!(hex::encode(bytes.get(1..).unwrap_or(&[]), ""));
            out["error"] = json!(e.to_string());
        }
    }
    out
}

fn object_json(o: &Object<'_>) -> Value {
    let mut out = json!({
        "offset": o.offset,
        "tag": o.tag,
        "name": o.name(),
        "value": hex::encode(o.value, ""),
    });
    out["decoded"] = match o.data() {
        Data::CardService(cs) => json!({
            "byte": cs.0,
            "selection_by_full_df_name": cs.selection_by_full_df_name(),
            "selection_by_partial_df_name": cs.selection_by_partial_df_name(),
            "data_objects_in_ef_dir": cs.data_objects_in_ef_dir(),
            "data_objects_in_ef_atr": cs.data_objects_in_ef_atr(),
            "ef_access": ef_access_name(cs.ef_access()),
            "has_mf": cs.has_mf(),
            "lines": card_service_lines(cs),
        }),
        Data::CardCapabilities(caps) => json!({
            "selection_methods": {
                "byte": caps.selection.0,
                "methods": caps.selection.iter().collect::<Vec<_>>(),
            },
            "data_coding": caps.coding.map(|dc| json!({
                "byte": dc.0,
                "tlv_efs": dc.tlv_efs(),
                "write_behaviour": dc.write_behaviour().description(),
                "ff_tag_valid": dc.ff_tag_valid(),
                "data_unit_quartets": dc.data_unit_quartets(),
                "lines": coding_lines(dc),
            })),
            "chaining": caps.chaining.map(|cc| json!({
                "byte": cc.0,
                "command_chaining": cc.command_chaining(),
                "extended_lengths": cc.extended_lengths(),
                "extended_length_info": cc.extended_length_info(),
                "channel_assignment": cc.channel_assignment().description(),
                "max_channels": cc.max_channels(),
                "lines": chaining_lines(cc),
            })),
            "extra": hex::encode(caps.extra, ""),
        }),
        Data::Status(status) => status_json(status),
        Data::BadLength(_) => json!({ "error": "wrong length for this tag" }),
        Data::CountryCode(v)
        | Data::IssuerIdentification(v)
        | Data::InitialAccess(v)
        | Data::CardIssuer(v)
        | Data::PreIssuing(v)
        | Data::ApplicationIdentifier(v)
        | Data::Reserved(v) => json!({ "ascii": hex::ascii(v) }),
    };
    out
}

fn status_json(status: StatusIndicator) -> Value {
    json!({
        "lcs": status.lcs.map(|LifeCycle(b)| b),
        "lcs_meaning": status.lcs.map(|l| l.state().description()),
        "sw": status.sw.map(|sw| format!("{:04X}", sw.0)),
        "sw_meaning": status.sw.map(|sw: StatusWord| sw.to_string()),
    })
}
