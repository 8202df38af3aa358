"""``file/*``: uploads (multipart and external); downloads are served by the app."""

from __future__ import annotations

from email.message import Message as MimeHeaders
from typing import Final

from fleep_async.testing._http.errors import bad_request, business
from fleep_async.testing._http.routing import Ctx, Result, handler
from fleep_async.testing._world.state import Record, Upload

MAX_EXTERNAL_SIZE: Final = 1024**3


def _filename(disposition: str | None) -> str | None:
    if not disposition:
        return None
    headers = MimeHeaders()
    headers["content-disposition"] = disposition
    return _basename(headers.get_filename())


def _basename(name: str | None) -> str | None:
    return name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] if name else None


async def read_uploads(ctx: Ctx) -> list[Upload]:
    """Multipart ``files`` parts (POST), or a raw body (PUT, or POST with ``_method=PUT``)."""
    request = ctx.request
    assert request is not None
    world, me = ctx.world, ctx.me
    put = request.method == "PUT" or request.query_params.get("_method", "").upper() == "PUT"
    content_type = request.headers.get("content-type", "")
    uploads: list[Upload] = []
    if not put and content_type.lower().startswith("multipart/form-data"):
        form = await request.form(max_part_size=64 * 1024 * 1024)
        try:
            for item in form.getlist("files"):
                if isinstance(item, str):
                    continue
                data = await item.read()
                # The name without its directories, as for a raw PUT's Content-Disposition.
                name = _basename(item.filename) or "file"
                uploads.append(world.store_file(me, name, data, item.content_type))
        finally:
            await form.close()
        if not uploads:
            raise bad_request("No files part in the upload.")
        return uploads
    data = await request.body()
    name = _filename(request.headers.get("content-disposition")) or "file"
    uploads.append(world.store_file(me, name, data, content_type or None))
    return uploads


@handler("file/upload", path_id="optional_conversation", body="upload")
async def upload(ctx: Ctx) -> Result:
    """Upload files; pass the returned ``upload_url`` values as message ``attachments``."""
    uploads = await read_uploads(ctx)
    return {"files": [ctx.world.upload_info(u) for u in uploads]}


@handler("file/upload/external")
def upload_external(ctx: Ctx) -> Result:
    """FakeFleep fetches nothing: URLs registered in ``fake.external_files`` succeed."""
    world, me, p = ctx.world, ctx.me, ctx.params
    file_url = p.req_text("file_url")
    file_name = p.req_text("file_name")
    size = p.integer("file_size") or 0
    if size > MAX_EXTERNAL_SIZE:
        raise business("file_too_large", "External files are limited to 1 GiB.")
    conv_id = p.uuid("conversation_id")
    if conv_id is not None:
        world.membership(world.conversation(conv_id), me.account_id)
    request_id = world.ids.uuid()
    record: Record = {
        "mk_rec_type": "upload",
        "request_id": request_id,
        "name": file_name,
    }
    if conv_id is not None:
        record["conversation_id"] = conv_id
    if p.has("upload_id"):
        record["upload_id"] = p.text("upload_id")
    data = world.external_files.get(file_url)
    if data is None:
        record.update(status="failure", error="FakeFleep cannot download external URLs.")
    else:
        up = world.store_file(me, file_name, data, None)
        info = world.upload_info(up)
        record.update(
            status="success",
            error="",
            upload_url=up.upload_url,
            file_sha256=info["file_sha256"],
            file_type=info["file_type"],
            size=info["size"],
        )
        for key in ("width", "height", "is_animated"):
            if key in info:
                record[key] = info[key]
    world.emit(me.account_id, [record])
    return {"request_id": request_id}
