"""Product images: upload a photo for a product (multipart); the image agent embeds it."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath

from infrastructure.bootstrap import Container
from infrastructure.images import validate_image
from interfaces.http.auth import requires_role
from interfaces.http.context import in_thread, read_in_thread
from interfaces.http.controllers.products import IfMatch, expected_version
from interfaces.http.presenters import product_out, version_headers
from interfaces.http.schemas import ProductOut
from interfaces.http.search_schemas import ImageUpload
from interfaces.http.studio_errors import STUDIO_EXCEPTION_HANDLERS


class ProductImageController(Controller):
    path = "/products"
    tags = ["products"]
    exception_handlers = STUDIO_EXCEPTION_HANDLERS

    @post(
        "/{product_id:uuid}/image",
        operation_id="uploadProductImage",
        guards=[requires_role("merchant")],
        status_code=200,
    )
    async def upload_image(
        self,
        request: Request[Any, Any, Any],
        product_id: FromPath[uuid.UUID],
        data: Annotated[ImageUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        container: NamedDependency[Container],
        if_match: IfMatch = None,
    ) -> Response[ProductOut]:
        """Attach a JPEG, PNG or WebP photo to a product (field ``image``).

        The bytes are checked before anything is stored: over the size or pixel limits
        (decompression bombs included) is a 413, anything that is not a whole image of an
        accepted format a 422. The image is stored under its sha256 and served from
        ``/blobs``; the product-image agent then embeds it for visual search.
        """
        await read_in_thread(container.catalog.get_product, product_id)  # 404 before work
        content = await data.image.read()
        studio = container.settings.studio
        info = await read_in_thread(
            lambda: validate_image(
                content, max_bytes=studio.image_max_bytes, max_pixels=studio.image_max_pixels
            )
        )
        ref = await read_in_thread(container.blobs.put, content, info.media_type)
        result = await in_thread(
            request,
            lambda: container.catalog.attach_image(
                product_id,
                ref.sha256,
                info.media_type,
                info.width,
                info.height,
                expected_version=expected_version(if_match),
            ),
        )
        return Response(
            product_out(result.aggregate, result.position),
            headers=version_headers(result.aggregate.version, result.position),
        )
