"""``avatar/*``: the account's picture."""

from __future__ import annotations

from fleep_async.testing._http.errors import bad_request
from fleep_async.testing._http.routing import Ctx, Result, handler


@handler("avatar/upload", body="upload")
async def avatar_upload(ctx: Ctx) -> Result:
    """Upload an avatar (multipart ``files`` or raw PUT)."""
    from fleep_async.testing._handlers.file import read_uploads

    uploads = await read_uploads(ctx)
    if not uploads:
        raise bad_request("No file in the upload.")
    upload = uploads[-1]
    ctx.me.avatar_file_id = upload.file_id
    ctx.world.broadcast_contact(ctx.me)
    stored = ctx.world.files[upload.file_id]
    # The real server answers the stored picture at the top level (Fleep's server tests).
    return {
        "file_id": upload.file_id,
        "name": upload.name,
        "size": len(stored.data),
        "file_sha256": stored.file_sha256,
        "file_type": stored.file_type,
        "width": stored.width,
        "height": stored.height,
        "upload_url": upload.upload_url,
    }


@handler("avatar/delete")
def avatar_delete(ctx: Ctx) -> Result:
    """Remove the avatar."""
    ctx.me.avatar_file_id = None
    ctx.world.broadcast_contact(ctx.me)
    return {}
