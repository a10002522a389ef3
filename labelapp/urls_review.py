"""URLs of the review pages and API (included by labelapp.urls)."""

from django.urls import path

from labelapp import api_review, views_review

api_urlpatterns: list = [
    path(
        "projects/<int:project_id>/review-queue/",
        api_review.ReviewQueueApi.as_view(),
        name="api-review-queue",
    ),
    path(
        "annotations/<int:annotation_id>/review/",
        api_review.AnnotationReviewApi.as_view(),
        name="api-annotation-review",
    ),
    path(
        "clips/<int:clip_id>/review/",
        api_review.ClipReviewAnnotationsApi.as_view(),
        name="api-clip-review",
    ),
    path(
        "clips/<int:clip_id>/history/", api_review.ClipHistoryApi.as_view(), name="api-clip-history"
    ),
    path(
        "clips/<int:clip_id>/adjudication/",
        api_review.ClipAdjudicationApi.as_view(),
        name="api-clip-adjudication",
    ),
    path(
        "projects/<int:project_id>/rejected/",
        api_review.MyRejectedAnnotationsApi.as_view(),
        name="api-my-rejected",
    ),
    path(
        "projects/<int:project_id>/agreement/",
        api_review.ProjectAgreementApi.as_view(),
        name="api-agreement",
    ),
    path(
        "projects/<int:project_id>/model-vs-humans/",
        api_review.ProjectModelVsHumansApi.as_view(),
        name="api-model-vs-humans",
    ),
    path(
        "projects/<int:project_id>/members/<int:user_id>/",
        api_review.ProjectMemberDetailApi.as_view(),
        name="api-project-member",
    ),
    path(
        "projects/<int:project_id>/members/<int:user_id>/release/",
        api_review.ProjectMemberReleaseApi.as_view(),
        name="api-project-member-release",
    ),
    path("tokens/", api_review.ApiTokenListApi.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", api_review.ApiTokenDetailApi.as_view(), name="api-token"),
]

page_urlpatterns: list = [
    path("projects/<int:project_id>/review/", views_review.review_queue_page, name="review-queue"),
    path("clips/<int:clip_id>/review/", views_review.clip_review_page, name="clip-review"),
    path("clips/<int:clip_id>/history/", views_review.clip_history_page, name="clip-history"),
    path("projects/<int:project_id>/my-reviews/", views_review.my_reviews_page, name="my-reviews"),
    path("projects/<int:project_id>/members/", views_review.members_page, name="members"),
    path("tokens/", views_review.tokens_page, name="tokens"),
]
