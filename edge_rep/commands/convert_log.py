"""``edge-rep convert-log``: a sensor log into the dataset format, WAV or miniSEED."""

from . import add_force, path_arg

NAME = "convert-log"
HELP = "convert a sensor log (from 'edge-rep record' or 'simulate --log') to a dataset recording, WAV or miniSEED"
EXAMPLE = "edge-rep convert-log run1.edgelog --to dataset --out data/run1.npz"
ORDER = 42


def add_arguments(p) -> None:
    p.add_argument("log", type=path_arg, help="sensor log file")
    p.add_argument("--to", choices=("dataset", "wav", "mseed"), required=True,
                   help="dataset: one .npz recording (labels from LOG.labels.json); wav: one float32 WAV per "
                        "modality in physical units (gaps become 0) with a sidecar <wav>.json saying its modality "
                        "and unit; mseed: miniSEED in physical units, one trace per channel and gap-free run, with "
                        "a StationXML beside it (OUT.xml, sensitivity 1.0) (needs obspy). 'edge-rep convert' reads "
                        "each back without calibration options")
    p.add_argument("--out", required=True, type=path_arg,
                   help="output file; for WAV with several modalities, <out>-<modality>.wav; the sidecar "
                        "(<wav>.json, OUT.xml) is part of the output: replaced only with --force")
    add_force(p, "output file of the same kind")


def run(args) -> int:
    from firmware_bridge.sensorlog import read_log

    from ..log_conversion import labels_path, to_dataset, to_mseed, to_recording, to_wav

    from ..errors import warn
    from ..inpaths import input_file

    log = read_log(input_file(args.log, "sensor log", option="LOG"))     # a FIFO or a device is refused unread
    rec = to_recording(log)
    if log.tail_bytes:
        print(f"convert-log: {args.log}: ignored {log.tail_bytes} bytes of a torn last record")
    written = {"dataset": to_dataset, "wav": to_wav, "mseed": to_mseed}[args.to](rec, args.out, force=args.force)
    for path in written:
        print(f"wrote {path}")
    if args.to == "dataset" and not rec.labels:
        warn(f"{args.log}: has no labels ({labels_path(args.log)} is missing), so the recording's windows are "
             f"unlabelled and training skips them; write that file (firmware_bridge/LOGFORMAT.md) and convert again")
    return 0
