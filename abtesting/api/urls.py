from abtesting.api import views
from lifecycle.core.api.routes import api_path

urlpatterns = [
    *api_path("abtests", views.ABTestListApi.as_view(), "abtest-list"),
    *api_path("abtests/create", views.ABTestCreateApi.as_view(), "abtest-create"),
    *api_path("abtests/start", views.ABTestStartApi.as_view(), "abtest-start"),
    *api_path("abtests/pause", views.ABTestPauseApi.as_view(), "abtest-pause"),
    *api_path("abtests/stop", views.ABTestStopApi.as_view(), "abtest-stop"),
    *api_path("abtests/cancel", views.ABTestCancelApi.as_view(), "abtest-cancel"),
    *api_path("abtests/<uuid:test_id>", views.ABTestDetailApi.as_view(), "abtest-detail"),
    *api_path("abtests/<uuid:test_id>/assign", views.ABTestAssignApi.as_view(), "abtest-assign"),
    *api_path("abtests/<uuid:test_id>/results", views.ABTestResultsApi.as_view(), "abtest-results"),
]
