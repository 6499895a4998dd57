"""`gridloop demo`: a few hundred realistic cases, spread over every stage of the loop.

Every case goes the real way: `gridloop.intake.report_case` checks it against the seeded
reference data and starts its workflow, then `gridloop.cases.act` sends each action as its Update,
so the workflow's rules judge every step (the driver only sends legal sequences). Categories,
grids and urgencies come from the read model; descriptions and addresses from the small tables
below; every actor is a seeded demo user (coordinator, auditor, the grid worker, one user per
department), so the console shows the same people throughout.

`MIX` is the distribution over the lifecycle. SLA clocks start when an action happens, that is
now, so nothing can be back-dated into an overdue state; instead many assignments are left
unsigned, and their sign-for deadlines (a quarter of an hour to four working hours) run out in
the next working hours. The command prints when the first of them falls due.

Repeatable: case i of a run is planned from `random.Random(f"{seed}-{i}")` alone and reported with
the idempotency key `demo-<seed>-<i>`, and each action's request id is derived from that key, so
running again with the same seed (after an interruption, or with more cases) adds nothing twice.
"""

import asyncio
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from domain.messages import (
    ActionAccepted,
    AddProgressNote,
    Command,
    CompleteWork,
    ConveneConsultation,
    DecideExtension,
    DepartmentDeadline,
    Dispatch,
    Escalate,
    RateFeedback,
    RecordConsultationDecision,
    RecordReviewFindings,
    RequestExtension,
    ResolveOnSite,
    ReturnWork,
    SignForWork,
    SubmitFinalReply,
    SuspendCase,
    VerifyOnSite,
)
from domain.model import (
    Actor,
    FeedbackChannel,
    Rating,
    ReviewOutcome,
    Role,
    SlaPolicy,
    Source,
    Stage,
    Status,
    Urgency,
)
from gridloop import cases
from gridloop.intake import IdempotencyConflict, NewCase, UnknownReference, report_case
from gridloop.settings import Settings
from gridloop.temporal import connect
from store.db import database_url, prepare_read_model
from store.models import (
    CategoryRecord,
    CommunityRecord,
    DepartmentRecord,
    GridRecord,
    TownRecord,
    UserRecord,
)
from store.reference import policy_snapshot

DEFAULT_CASES = 300
DEFAULT_SEED = 2026
CONCURRENCY = 8


# ---- the mix: how many cases end where ------------------------------------------------------


class Scenario(StrEnum):
    TRIAGE = "triage"
    CONSULTING = "consulting"
    REROUTING = "rerouting"
    UNSIGNED = "unsigned"
    PARTLY_SIGNED = "partly_signed"
    SIGNED = "signed"
    CONSULTED = "consulted"
    EXTENSION_PENDING = "extension_pending"
    EXTENSION_DECIDED = "extension_decided"
    SUSPENDED = "suspended"
    FINAL_REPLY = "final_reply"
    VERIFICATION = "verification"
    FEEDBACK = "feedback"
    FOLLOW_UP = "follow_up"
    ON_SITE_FOLLOW_UP = "on_site_follow_up"
    REVIEW_RETURNS = "review_returns"
    REVIEW_CAP = "review_cap"
    ARCHIVED_REVIEWED = "archived_reviewed"
    ARCHIVED = "archived"
    ON_SITE_ARCHIVED = "on_site_archived"


class Needs(StrEnum):
    """Which categories a scenario can use."""

    ANY = "any"
    JOINT = "joint"  # has co-handling departments
    FOLLOW_UP = "follow_up"  # closure leads to 长效跟踪
    CLOSES = "closes"  # no follow-ups: closure leads straight to review or the archive
    ON_SITE_FOLLOW_UP = "on_site_follow_up"  # small matters a grid worker settles, followed up
    ON_SITE_CLOSES = "on_site_closes"  # small matters a grid worker settles, no follow-ups


@dataclass(frozen=True)
class Share:
    per_mille: int
    needs: Needs
    ends_in: str


MIX: dict[Scenario, Share] = {
    # scenario                          ‰  categories          ends in (stage / status, what)
    Scenario.TRIAGE: Share(70, Needs.ANY, "report / awaiting_triage; some escalated to the town"),
    Scenario.CONSULTING: Share(35, Needs.ANY, "consult / consulting: convened, no decision"),
    Scenario.REROUTING: Share(30, Needs.ANY, "consult / awaiting_rerouting after a 退单"),
    Scenario.UNSIGNED: Share(130, Needs.ANY, "handle / handling: dispatched, nobody signed"),
    Scenario.PARTLY_SIGNED: Share(45, Needs.JOINT, "handle / handling: lead signed, co not"),
    Scenario.SIGNED: Share(90, Needs.ANY, "handle / handling: signed, progress notes"),
    Scenario.CONSULTED: Share(25, Needs.JOINT, "handle / handling: after a consultation"),
    Scenario.EXTENSION_PENDING: Share(35, Needs.ANY, "handle / handling: extension requested"),
    Scenario.EXTENSION_DECIDED: Share(40, Needs.ANY, "handle / handling: extension approved"),
    Scenario.SUSPENDED: Share(15, Needs.ANY, "handle / handling, suspended (挂账)"),
    Scenario.FINAL_REPLY: Share(45, Needs.JOINT, "handle / awaiting_final_reply"),
    Scenario.VERIFICATION: Share(60, Needs.ANY, "handle / awaiting_verification"),
    Scenario.FEEDBACK: Share(75, Needs.ANY, "feedback / awaiting_feedback"),
    Scenario.FOLLOW_UP: Share(100, Needs.FOLLOW_UP, "follow_up / follow_up_scheduled"),
    Scenario.ON_SITE_FOLLOW_UP: Share(30, Needs.ON_SITE_FOLLOW_UP, "follow_up, 就地解决"),
    Scenario.REVIEW_RETURNS: Share(20, Needs.CLOSES, "review: repeated returns"),
    Scenario.REVIEW_CAP: Share(15, Needs.CLOSES, "review: dissatisfied at the re-handling cap"),
    Scenario.ARCHIVED_REVIEWED: Share(30, Needs.CLOSES, "archived, review findings recorded"),
    Scenario.ARCHIVED: Share(75, Needs.CLOSES, "archived (reviewed if sampled)"),
    Scenario.ON_SITE_ARCHIVED: Share(35, Needs.ON_SITE_CLOSES, "archived, 就地解决"),
}

# Plans that end in the archive; if the workflow draws the case for a sampling review, the
# auditor records it too.
ENDS_ARCHIVED = frozenset({Scenario.ARCHIVED, Scenario.ON_SITE_ARCHIVED})
URGENCY_WEIGHTS = {Urgency.NORMAL: 75, Urgency.MAJOR: 15, Urgency.SERIOUS: 7, Urgency.CRITICAL: 3}
# Of the cases not settled on the spot, the share reported by the grid worker in its own grids;
# the rest come in through the command centre (12345 hotline, residents) from every town.
GRID_WORKER_SHARE = 0.4


def scenario_sequence(count: int, seed: int) -> list[Scenario]:
    """Scenarios for cases 0..count-1; case i's depends on (seed, i) only, never on count.

    One of each first (in a seeded order), so that any run of at least len(MIX) cases reaches
    every stage; then a smooth weighted round robin over the shares.
    """
    first = list(MIX)
    random.Random(seed).shuffle(first)
    sequence = first[:count]
    total = sum(share.per_mille for share in MIX.values())
    current = dict.fromkeys(MIX, 0)
    while len(sequence) < count:
        for scenario, share in MIX.items():
            current[scenario] += share.per_mille
        chosen = max(MIX, key=lambda s: current[s])
        current[chosen] -= total
        sequence.append(chosen)
    return sequence


# ---- what the cases say ---------------------------------------------------------------------


@dataclass(frozen=True)
class Texts:
    weight: int
    descriptions: tuple[str, ...]
    results: tuple[str, ...]
    on_site: str | None = None
    """What a grid worker does to settle it on the spot; None: not a matter for 就地解决."""


# fmt: off
PLACES = (
    "小区北门", "菜市场东侧", "学校门口", "公交站台旁", "沿街商铺前", "老小区内",
    "十字路口东南角", "桥头", "公园入口", "村委会附近", "工业园区内", "农贸市场入口",
)
ROADS = (
    "解放东路", "解放西路", "体育南路", "施家南路", "亭桥北路", "谈公南路", "魏中路",
    "中山西路", "晋阳东路", "华亭路", "罗星路", "花园路", "健康路", "人民大道",
)
# fmt: on
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡沈钱顾陆姚"

TEXTS: dict[str, Texts] = {
    "occupy_road_business": Texts(
        10,
        (
            "{place}沿街店铺占道经营，货物堆放至人行道，影响行人通行",
            "{place}流动摊贩占道摆摊，早晚高峰造成拥堵",
            "{place}水果店门前搭设遮阳棚摆放货架，占用盲道",
        ),
        ("已责令店主清理占道货物，人行道恢复通行", "已劝离流动摊贩，引导至疏导点经营"),
        "现场劝导店主将货物搬回店内，人行道已恢复通行",
    ),
    "illegal_parking": Texts(
        8,
        (
            "{place}车辆长期乱停乱放，堵塞消防通道",
            "{place}人行道上停放多辆机动车，行人只能绕行机动车道",
            "小区出入口被僵尸车占用，车身积灰已久",
        ),
        ("已对违停车辆贴单处罚并拖移，消防通道已畅通", "已联系车主挪车，并增设禁停标识"),
        "联系车主将车辆挪走，消防通道恢复畅通",
    ),
    "environmental_sanitation": Texts(
        9,
        (
            "{place}垃圾堆积多日未清运，异味明显",
            "{place}绿化带内乱扔建筑垃圾和生活垃圾",
            "{place}公厕卫生状况差，长时间无人保洁",
        ),
        ("已安排环卫作业单位清运垃圾并消杀", "已清理绿化带垃圾，并加密保洁频次"),
        "组织志愿者清理堆积垃圾，现场已恢复整洁",
    ),
    "waste_sorting": Texts(
        5,
        (
            "{place}垃圾分类投放点混投严重，厨余垃圾与其他垃圾混装",
            "{place}分类垃圾桶破损，桶盖缺失",
        ),
        ("已更换破损垃圾桶，并安排督导员定时值守", "已约谈物业，落实分类投放督导"),
        "现场对居民开展分类投放宣传，已二次分拣",
    ),
    "fire_hazard": Texts(
        5,
        (
            "{place}楼道内堆放大量杂物，堵塞安全出口",
            "{place}沿街商铺灭火器过期，疏散指示灯不亮",
            "{place}消防栓被广告牌遮挡，无法正常使用",
        ),
        ("已督促清理楼道杂物，安全出口恢复畅通", "已责令商铺更换灭火器、修复疏散指示"),
    ),
    "ebike_charging": Texts(
        5,
        (
            "居民从楼上拉电线给电动自行车飞线充电，存在安全隐患",
            "电动自行车停放在楼道内充电，存在火灾隐患",
        ),
        ("已拆除飞线，引导居民至集中充电桩充电", "已清理楼道内电动车，并张贴安全提示"),
    ),
    "group_rental_hazard": Texts(
        3,
        ("一套住房内隔出多个小间出租，居住人员密集", "出租房内使用明火做饭，无消防设施"),
        ("已督促房东拆除隔断、落实消防设施，并登记流动人口", "已责令整改，出租人签订安全承诺书"),
    ),
    "gas_safety": Texts(
        3,
        ("{place}餐饮店液化气瓶与灶具距离过近，软管老化", "居民反映楼道内有燃气异味"),
        ("已更换燃气软管并加装燃气报警装置", "燃气公司已上门检测，修复泄漏点"),
    ),
    "work_safety_hazard": Texts(
        3,
        ("{place}小作坊内违规存放易燃化学品", "{place}企业厂房消防通道被成品堆占"),
        ("已责令企业限期整改，危化品已规范存放", "已督促企业清理通道并开展安全培训"),
    ),
    "illegal_construction": Texts(
        5,
        ("居民在屋顶违规搭建彩钢棚", "{place}住户擅自扩建院墙，侵占公共绿地"),
        ("已下达限期拆除通知书，违建已自行拆除", "已组织拆除违章搭建，恢复绿地"),
    ),
    "illegal_land_use": Texts(
        2,
        ("农田内擅自堆土硬化，疑似违法建设", "占用耕地搭建临时仓库"),
        ("已立案查处，责令恢复土地原状", "已拆除临时仓库并复耕"),
    ),
    "noise_nuisance": Texts(
        5,
        (
            "{place}夜间施工噪声大，影响居民休息",
            "{place}广场舞音响音量过大，持续至晚上十点后",
            "{place}KTV夜间噪声扰民",
        ),
        ("已责令施工单位停止夜间施工", "已与广场舞队协商，控制音量和时段"),
    ),
    "cooking_fume": Texts(
        4,
        ("{place}烧烤店油烟直排，居民窗户无法打开", "{place}餐饮店未安装油烟净化设施"),
        ("已责令安装油烟净化器并定期清洗", "已督促商户整改，油烟经净化后高空排放"),
    ),
    "river_pollution": Texts(
        3,
        ("{place}河面漂浮大量垃圾和水葫芦", "{place}河水发黑发臭，疑有污水排入"),
        ("已安排保洁船打捞水面漂浮物", "已排查沿河排口，封堵雨污混接点"),
    ),
    "illegal_discharge": Texts(
        2,
        ("{place}企业夜间偷排废水至雨水管网", "{place}洗车店污水直排河道"),
        ("已现场采样取证并立案处罚，排口已封堵", "已责令洗车店接入污水管网"),
    ),
    "river_obstruction": Texts(
        1,
        ("{place}河道内有废弃船只阻碍通航", "{place}河道内违规设置渔网，影响行洪"),
        ("已清除河道障碍物，恢复通航", "已拆除违规渔网"),
    ),
    "open_burning": Texts(
        2,
        ("田间焚烧秸秆，浓烟弥漫", "{place}居民露天焚烧垃圾"),
        ("已现场扑灭并对当事人进行教育", "已加强巡查，宣传秸秆综合利用"),
    ),
    "road_damage": Texts(
        4,
        ("{place}路面出现大坑，电动车通行危险", "{place}人行道板松动破损，雨天溅水"),
        ("已完成路面修补", "已更换破损人行道板"),
    ),
    "streetlight_fault": Texts(
        4,
        ("{place}连续多盏路灯不亮，夜间出行不便", "{place}路灯杆倾斜，存在倒伏风险"),
        ("已更换灯具，路灯恢复照明", "已扶正加固路灯杆"),
    ),
    "manhole_cover_missing": Texts(
        2,
        ("{place}窨井盖缺失，已有行人险些踩空", "{place}井盖破损下沉，车辆经过声响大"),
        ("已更换新井盖并加装防坠网", "已修复下沉井盖"),
    ),
    "tree_greening": Texts(
        3,
        ("{place}大风后树木倒伏，压在非机动车道上", "{place}行道树枝叶遮挡交通信号灯"),
        ("已清理倒伏树木并补种", "已修剪遮挡枝叶"),
        "组织网格员和居民清理断枝，道路已恢复通行",
    ),
    "traffic_facility_damage": Texts(
        2,
        ("{place}交通信号灯故障，一直黄闪", "{place}道路护栏被撞损"),
        ("已修复信号灯", "已更换受损护栏"),
    ),
    "shared_bike_clutter": Texts(
        4,
        ("{place}共享单车大量堆放，占用人行道", "{place}共享单车倒伏，堵塞盲道"),
        ("已通知运营企业清运调度，规范停放", "已约谈运营企业，增设停放区"),
        "现场将共享单车摆放至停放区，并联系运营企业调度",
    ),
    "food_safety": Texts(
        3,
        ("{place}小吃店后厨卫生条件差，从业人员无健康证", "{place}超市销售过期食品"),
        ("已责令停业整改，从业人员办理健康证", "已下架过期食品并立案调查"),
    ),
    "unlicensed_business": Texts(
        3,
        ("{place}无证经营小餐馆", "{place}无证废品收购站占道经营"),
        ("已责令停止经营，引导办理证照", "已取缔无证废品收购站"),
    ),
    "neighbour_dispute": Texts(
        4,
        ("楼上漏水导致楼下天花板渗水，双方协商未果", "邻居之间因公共楼道堆物发生争执"),
        ("经人民调解，双方达成调解协议", "已组织双方协商，楼道堆物已清理"),
        "网格员上门调解，双方当场达成一致",
    ),
    "labour_dispute": Texts(
        2,
        ("务工人员反映被拖欠工资三个月", "企业停工后员工经济补偿未落实"),
        ("已督促企业支付拖欠工资", "经调解，企业与员工达成补偿协议"),
    ),
    "property_dispute": Texts(
        3,
        ("小区电梯频繁故障，物业维修不及时", "物业费上涨引发业主不满"),
        ("已督促物业完成电梯维修并加强维保", "已组织业委会与物业协商"),
        "网格员协调物业当场安排维修",
    ),
    "stray_dogs": Texts(
        2,
        ("{place}多只流浪犬出没，曾追咬行人", "{place}居民遛狗不牵绳"),
        ("已捕捉流浪犬送至收容点", "已开展文明养犬宣传并约谈犬主"),
        "网格员劝导犬主规范牵绳",
    ),
    "high_altitude_throwing": Texts(
        2,
        ("高层住宅有人高空抛物，砸坏楼下车辆", "楼下多次发现高空抛下的垃圾"),
        ("已调取监控锁定抛物住户并批评教育", "已加装高空抛物监控探头"),
    ),
    "campus_safety": Texts(
        2,
        ("学校门口上下学时段车辆乱停，学生通行不安全", "学校周边小卖部向学生售卖三无零食"),
        ("已在上下学时段增派警力护学", "已查处三无零食"),
    ),
    "hardship_assistance": Texts(
        2,
        ("独居老人行动不便，生活困难", "因病致贫家庭申请救助"),
        ("已纳入临时救助并落实结对帮扶", "已协助办理低保申请"),
    ),
    "public_health": Texts(
        1,
        ("{place}出现聚集性发热病例", "{place}积水较多，蚊虫滋生"),
        ("已开展流调和环境消杀", "已清理积水并开展灭蚊"),
    ),
    "online_opinion": Texts(
        1,
        ("网络论坛反映{place}噪声扰民，帖子转发量较大", "短视频平台反映{place}道路积水，引发关注"),
        ("已核实情况并在平台回复，问题已处置", "已联系发帖人说明处置情况"),
    ),
}

RETURN_REASONS = (
    "经现场核实，该问题不属于本单位职责范围，建议改派",
    "点位权属不清，需明确管理主体后再派单",
    "该事项涉及多部门职责，建议会商明确主办单位",
)
EXTENSION_REASONS = (
    "需等待检测报告，申请延期",
    "当事人外出，无法约谈，申请延期",
    "整改涉及施工，受天气影响，申请延期",
    "需协调产权单位，申请延期",
)
SUSPEND_REASONS = (
    "涉及产权纠纷，已进入诉讼程序，待法院判决后处置",
    "整改需纳入明年财政预算，挂账待办",
)
TOWN_OFFICE = "town_command_office"
PROGRESS_NOTES = (
    "已安排执法人员现场查看",
    "已电话联系当事人，约定上门时间",
    "已下达整改通知书，限期整改",
    "正在协调相关单位，拟定处置方案",
)


# ---- the reference data a run draws from ----------------------------------------------------


@dataclass(frozen=True)
class GridRef:
    code: str
    name: str
    town_name: str
    community_name: str
    village: bool


@dataclass(frozen=True)
class CategoryRef:
    code: str
    name: str
    lead: str
    co_handlers: tuple[str, ...]
    follow_up_days: tuple[int, ...]
    policies: dict[Urgency, SlaPolicy]

    @property
    def texts(self) -> Texts:
        return TEXTS.get(
            self.code, Texts(1, (f"{self.name}问题，请相关部门核查处置",), ("已按职责完成处置",))
        )


@dataclass(frozen=True)
class DemoReference:
    grids: tuple[GridRef, ...]
    categories: tuple[CategoryRef, ...]
    department_names: dict[str, str]
    coordinator: Actor
    auditor: Actor
    grid_worker: Actor
    grid_worker_grids: tuple[GridRef, ...]
    departments: dict[str, Actor]


class MissingReference(RuntimeError):
    """The read model lacks the seeded data (is this the stack's data directory?)."""


def load_reference(session: Session) -> DemoReference:
    """Grids, categories with their routing and policies, and the seeded demo users."""
    towns = {t.code: t for t in session.scalars(select(TownRecord))}
    communities = {c.code: c for c in session.scalars(select(CommunityRecord))}
    grids = tuple(
        GridRef(
            code=g.code,
            name=g.name,
            town_name=towns[g.town_code].name,
            community_name=communities[g.community_code].name,
            village=communities[g.community_code].kind == "village",
        )
        for g in session.scalars(select(GridRecord).order_by(GridRecord.code))
    )
    categories = tuple(
        CategoryRef(
            code=c.code,
            name=c.name,
            lead=c.lead_department,
            co_handlers=tuple(c.co_departments),
            follow_up_days=tuple(c.follow_up_days),
            policies=_policies(session, c.code),
        )
        for c in session.scalars(select(CategoryRecord).order_by(CategoryRecord.code))
    )
    if not grids or not categories:
        raise MissingReference(
            "the read model holds no reference data: start the stack once (`gridloop up`) "
            "with the same GRIDLOOP_DATA_DIR / DATABASE_URL, which seeds the demo county"
        )
    users = list(
        session.scalars(select(UserRecord).where(UserRecord.active).order_by(UserRecord.username))
    )
    coordinator = _user(users, Role.COORDINATOR, "coordinator")
    grid_worker = _user(users, Role.GRID_WORKER, "gridworker")
    worker_record = next(u for u in users if u.username == grid_worker.user_id)
    departments = {
        u.department_code: Actor(
            user_id=u.username, role=Role.DEPARTMENT, department=u.department_code
        )
        for u in users
        if u.role == Role.DEPARTMENT.value and u.department_code
    }
    needed = {d for c in categories for d in (c.lead, *c.co_handlers)}
    if missing := sorted(needed - set(departments)):
        raise MissingReference(f"no department user for {missing}")
    by_code = {g.code: g for g in grids}
    return DemoReference(
        grids=grids,
        categories=categories,
        department_names={d.code: d.name for d in session.scalars(select(DepartmentRecord))},
        coordinator=coordinator,
        auditor=_user(users, Role.AUDITOR, "auditor"),
        grid_worker=grid_worker,
        grid_worker_grids=tuple(by_code[c] for c in worker_record.grid_codes if c in by_code),
        departments=departments,
    )


def _policies(session: Session, category: str) -> dict[Urgency, SlaPolicy]:
    policies = {}
    for urgency in Urgency:
        policy = policy_snapshot(session, category, urgency)
        if policy is None:
            raise MissingReference(f"category {category} has no {urgency.value} policy")
        policies[urgency] = policy
    return policies


def _user(users: Sequence[UserRecord], role: Role, preferred: str) -> Actor:
    """The seeded demo user of a role (`preferred` if it exists, else the first one)."""
    holders = [u for u in users if u.role == role.value]
    if not holders:
        raise MissingReference(f"no active {role.value} user in the read model")
    chosen = next((u for u in holders if u.username == preferred), holders[0])
    return Actor(user_id=chosen.username, role=role, department=chosen.department_code)


# ---- planning one case: the report and the actions, decided up front -------------------------


@dataclass(frozen=True)
class CasePlan:
    index: int
    key: str
    scenario: Scenario
    category: CategoryRef
    new_case: NewCase
    reporter: Actor
    steps: tuple[Command, ...]
    review_if_sampled: RecordReviewFindings | None = None
    """Sent when the case went to review although the plan expected the archive: the workflow
    drew it for a sampling review (review_sampling_rate), which only it decides."""


def plan_cases(reference: DemoReference, count: int, seed: int) -> list[CasePlan]:
    return [
        plan_case(reference, seed, index, scenario)
        for index, scenario in enumerate(scenario_sequence(count, seed))
    ]


def plan_case(reference: DemoReference, seed: int, index: int, scenario: Scenario) -> CasePlan:
    rng = random.Random(f"{seed}-{index}")
    key = f"demo-{seed}-{index}"
    category = _pick_category(rng, reference, MIX[scenario].needs)
    on_site = scenario in (Scenario.ON_SITE_ARCHIVED, Scenario.ON_SITE_FOLLOW_UP)
    urgency = Urgency.NORMAL if on_site else _weighted(rng, URGENCY_WEIGHTS)
    by_grid_worker = on_site or rng.random() < GRID_WORKER_SHARE
    grids = reference.grid_worker_grids if by_grid_worker else ()
    grid = rng.choice(grids or reference.grids)
    texts = category.texts
    description = rng.choice(texts.descriptions).format(place=rng.choice(PLACES))
    if by_grid_worker:
        reporter = reference.grid_worker
        source, name, phone = Source.GRID_PATROL, None, None
        evidence: tuple[str, ...] = (f"https://evidence.invalid/demo/{key}/report.jpg",)
    else:
        reporter = reference.coordinator
        if category.code == "online_opinion":
            source = Source.PUBLIC_OPINION
        else:
            source = Source.HOTLINE_12345 if rng.random() < 0.6 else Source.RESIDENT
        name = rng.choice(SURNAMES) + rng.choice(("先生", "女士"))
        # 138-0000-xxxx: obviously fictional numbers.
        phone = f"1380000{rng.randrange(10000):04d}"
        evidence = ()
    new_case = NewCase(
        category=category.code,
        urgency=urgency,
        grid=grid.code,
        address=_address(rng, grid),
        latitude=round(30.84 + rng.uniform(-0.09, 0.09), 5),
        longitude=round(120.92 + rng.uniform(-0.11, 0.11), 5),
        description=description,
        evidence_urls=evidence,
        source=source,
        reporter_name=name,
        reporter_phone=phone,
    )
    script = _Script(rng, key, reference, category, category.policies[urgency], grid)
    script.play(scenario)
    return CasePlan(
        index=index,
        key=key,
        scenario=scenario,
        category=category,
        new_case=new_case,
        reporter=reporter,
        steps=tuple(script.commands),
        review_if_sampled=script.sampling_review() if scenario in ENDS_ARCHIVED else None,
    )


def _weighted(rng: random.Random, weights: dict[Any, int]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _pick_category(rng: random.Random, reference: DemoReference, needs: Needs) -> CategoryRef:
    def fits(category: CategoryRef) -> bool:
        on_site = category.texts.on_site is not None
        return {
            Needs.ANY: True,
            Needs.JOINT: bool(category.co_handlers),
            Needs.FOLLOW_UP: bool(category.follow_up_days),
            Needs.CLOSES: not category.follow_up_days,
            Needs.ON_SITE_FOLLOW_UP: on_site and bool(category.follow_up_days),
            Needs.ON_SITE_CLOSES: on_site and not category.follow_up_days,
        }[needs]

    # Other reference data may have no category of a kind: then the case ends elsewhere.
    eligible = [c for c in reference.categories if fits(c)] or list(reference.categories)
    return rng.choices(eligible, weights=[c.texts.weight for c in eligible])[0]


def _address(rng: random.Random, grid: GridRef) -> str:
    if grid.village:
        return f"{grid.town_name}{grid.community_name}{rng.randint(1, 12)}组{rng.randint(1, 80)}号"
    return f"{grid.town_name}{grid.community_name}{rng.choice(ROADS)}{rng.randint(1, 300)}号"


class _Script:
    """The actions of one case, in order; every one legal for the case as it will be then."""

    def __init__(
        self,
        rng: random.Random,
        key: str,
        reference: DemoReference,
        category: CategoryRef,
        policy: SlaPolicy,
        grid: GridRef,
    ) -> None:
        self.rng, self.key, self.ref = rng, key, reference
        self.category, self.policy = category, policy
        self.commands: list[Command] = []
        self.lead = category.lead
        self.co = category.co_handlers
        self.coordinator = reference.coordinator
        # Only one grid worker is seeded: it checks its own grids, the command centre the rest.
        in_own_grid = grid in reference.grid_worker_grids
        self.checker = reference.grid_worker if in_own_grid else reference.coordinator
        self.result = rng.choice(category.texts.results)

    # -- helpers --

    def add(self, command_type: type[Command], **fields: Any) -> None:
        request_id = f"{self.key}-{len(self.commands) + 1:02d}"
        self.commands.append(command_type(request_id=request_id, **fields))

    def dept(self, code: str) -> Actor:
        return self.ref.departments[code]

    def name(self, code: str) -> str:
        return self.ref.department_names.get(code, code)

    def route_note(self) -> str:
        if not self.co:
            return f"请{self.name(self.lead)}办理"
        helpers = "、".join(self.name(d) for d in self.co)
        return f"请{self.name(self.lead)}牵头办理，{helpers}协同配合"

    def dispatch(self, note: str | None = None) -> None:
        self.add(
            Dispatch,
            actor=self.coordinator,
            lead_department=self.lead,
            co_departments=self.co,
            note=note or self.route_note(),
        )

    def sign(self, *departments: str) -> None:
        for department in departments:
            self.add(SignForWork, actor=self.dept(department))

    def note(self, department: str) -> None:
        self.add(AddProgressNote, actor=self.dept(department), note=self.rng.choice(PROGRESS_NOTES))

    def complete(self, department: str) -> None:
        if department == self.lead:
            result = self.result
        else:
            result = f"已配合{self.name(self.lead)}完成相关工作"
        self.add(
            CompleteWork,
            actor=self.dept(department),
            result=result,
            evidence_urls=(f"https://evidence.invalid/demo/{self.key}/{department}.jpg",),
        )

    def handle_round(self, *, notes: bool = True) -> None:
        """Everyone in the route signs and finishes; a joint round ends with the lead's reply."""
        self.sign(self.lead, *self.co)
        if notes and self.rng.random() < 0.5:
            self.note(self.lead)
        for department in (*self.co, self.lead):
            self.complete(department)
        if self.co:
            helpers = "、".join(self.name(d) for d in self.co)
            self.add(
                SubmitFinalReply,
                actor=self.dept(self.lead),
                reply=f"经{self.name(self.lead)}牵头、{helpers}配合联合处置：{self.result}。",
            )

    def verify(self, passed: bool = True) -> None:
        notes = "现场核查，问题已整改到位" if passed else "现场核查，问题仍然存在，退回重办"
        self.add(VerifyOnSite, actor=self.checker, passed=passed, notes=notes)

    def rate(self, rating: Rating) -> None:
        comments = {
            Rating.SATISFIED: "处理及时，很满意",
            Rating.BASICALLY_SATISFIED: "问题基本解决，希望加强日常巡查",
            Rating.DISSATISFIED: "问题没有根本解决，不满意",
        }
        self.add(
            RateFeedback,
            actor=self.coordinator,
            rating=rating,
            channel=FeedbackChannel.CALLBACK,  # 回访 by the command centre
            comment=comments[rating],
        )

    def happy_rating(self) -> Rating:
        return Rating.SATISFIED if self.rng.random() < 0.8 else Rating.BASICALLY_SATISFIED

    def returns(self) -> str:
        """Returns (退单) until the policy's threshold for a review, then a final dispatch."""
        returner = self.co[0] if self.co else self.lead
        self.dispatch()
        for number in range(self.policy.repeated_return_threshold):
            if number:
                self.dispatch(f"经核实属{self.name(returner)}职责范围，请签收办理")
            self.add(ReturnWork, actor=self.dept(returner), reason=self.rng.choice(RETURN_REASONS))
        self.dispatch("经指挥中心明确职责分工，请按时办理，不得再次退单")
        self.handle_round()
        self.verify()
        self.rate(self.happy_rating())
        return returner

    def dissatisfied_rounds(self, times: int) -> None:
        """A full round, then `times` dissatisfied ratings, each but the last past the cap
        reopening the case to the same departments."""
        self.dispatch()
        for number in range(times):
            if number:
                self.handle_round(notes=False)
            else:
                self.handle_round()
            self.verify()
            self.rate(Rating.DISSATISFIED)

    def findings(
        self, root_cause: str, outcome: ReviewOutcome, departments: tuple[str, ...]
    ) -> None:
        deduction = (
            float(self.rng.choice((1, 2))) if outcome is ReviewOutcome.SCORE_DEDUCTION else 0
        )
        self.add(
            RecordReviewFindings,
            actor=self.ref.auditor,
            root_cause=root_cause,
            responsible_departments=departments,
            outcome=outcome,
            score_deduction=deduction,
            notes="事后倒查已完成，结果纳入年度考核",
        )

    def sampling_review(self) -> RecordReviewFindings:
        return RecordReviewFindings(
            request_id=f"{self.key}-sampled",
            actor=self.ref.auditor,
            root_cause="随机抽查：处置流程规范，时限符合要求",
            outcome=ReviewOutcome.NONE,
        )

    # -- the scenarios --

    def play(self, scenario: Scenario) -> None:
        rng = self.rng
        if scenario is Scenario.TRIAGE:
            if self.policy.sign_for_hours <= 1 and rng.random() < 0.5:
                self.add(Escalate, actor=self.coordinator, reason="事态较大，需镇街统筹处置")
        elif scenario is Scenario.CONSULTING:
            participants = (self.lead, *self.co)
            if TOWN_OFFICE not in participants:
                participants += (TOWN_OFFICE,)
            self.add(
                ConveneConsultation,
                actor=self.coordinator,
                participants=participants,
                agenda=f"{self.category.name}问题涉及多个部门职责，会商明确主办单位和处置时限",
            )
        elif scenario is Scenario.REROUTING:
            self.dispatch()
            returner = rng.choice((self.lead, *self.co))
            self.add(ReturnWork, actor=self.dept(returner), reason=rng.choice(RETURN_REASONS))
        elif scenario is Scenario.UNSIGNED:
            self.dispatch()
        elif scenario is Scenario.PARTLY_SIGNED:
            self.dispatch()
            self.sign(self.lead)
            self.note(self.lead)
        elif scenario is Scenario.SIGNED:
            self.dispatch()
            self.sign(self.lead, *self.co)
            for _ in range(rng.randint(0, 2)):
                self.note(self.lead)
            if self.co and rng.random() < 0.4:
                self.complete(self.co[0])
        elif scenario is Scenario.CONSULTED:
            participants = (self.lead, *self.co)
            self.add(
                ConveneConsultation,
                actor=self.coordinator,
                participants=participants,
                agenda=f"{self.category.name}问题职责交叉，会商明确分工",
            )
            self.add(
                RecordConsultationDecision,
                actor=self.coordinator,
                lead_department=self.lead,
                co_departments=self.co,
                deadlines=(
                    DepartmentDeadline(
                        department=self.lead, handling_days=self.policy.handling_days + 2
                    ),
                ),
                participants=participants,
                minutes=f"会商明确：{self.route_note()}，主办单位办理时限延长2个工作日",
            )
            self.sign(self.lead)
        elif scenario is Scenario.EXTENSION_PENDING:
            self.extension(decide=False)
        elif scenario is Scenario.EXTENSION_DECIDED:
            self.extension(decide=True)
        elif scenario is Scenario.SUSPENDED:
            self.dispatch()
            self.sign(self.lead)
            self.add(SuspendCase, actor=self.coordinator, reason=rng.choice(SUSPEND_REASONS))
        elif scenario is Scenario.FINAL_REPLY:
            self.dispatch()
            self.sign(self.lead, *self.co)
            for department in (*self.co, self.lead):
                self.complete(department)
        elif scenario is Scenario.VERIFICATION:
            self.dispatch()
            self.handle_round()
        elif scenario is Scenario.FEEDBACK:
            self.dispatch()
            self.handle_round()
            if rng.random() < 0.2:
                self.verify(passed=False)
                self.handle_round(notes=False)
            self.verify()
        elif scenario is Scenario.FOLLOW_UP:
            self.dispatch()
            self.handle_round()
            self.verify()
            self.rate(self.happy_rating())
        elif scenario in (Scenario.ON_SITE_FOLLOW_UP, Scenario.ON_SITE_ARCHIVED):
            self.add(
                ResolveOnSite,
                actor=self.ref.grid_worker,
                result=self.category.texts.on_site or "网格员现场处置完毕",
                evidence_urls=(f"https://evidence.invalid/demo/{self.key}/after.jpg",),
            )
            self.rate(self.happy_rating())
        elif scenario is Scenario.REVIEW_RETURNS:
            self.returns()
        elif scenario is Scenario.REVIEW_CAP:
            self.dissatisfied_rounds(self.policy.max_rehandling_rounds + 1)
        elif scenario is Scenario.ARCHIVED_REVIEWED:
            self.reviewed()
        elif scenario is Scenario.ARCHIVED:
            self.dispatch()
            self.handle_round()
            self.verify()
            self.rate(self.happy_rating())

    def extension(self, *, decide: bool) -> None:
        self.dispatch()
        self.sign(self.lead, *self.co)
        self.note(self.lead)
        self.add(
            RequestExtension,
            actor=self.dept(self.lead),
            extra_days=self.rng.randint(2, 5),
            reason=self.rng.choice(EXTENSION_REASONS),
        )
        if decide:
            approve = self.rng.random() < 0.85
            self.add(
                DecideExtension,
                actor=self.coordinator,
                department=self.lead,
                approve=approve,
                comment="同意延期，请按新时限办结" if approve else "理由不充分，请按原时限办结",
            )

    def reviewed(self) -> None:
        """Closed with a review trigger, then the auditor's findings archive it."""
        path = self.rng.random()
        if path < 0.4:
            returner = self.returns()
            self.findings(
                f"职责边界不清，{self.name(returner)}多次退单，延误处置",
                ReviewOutcome.NOTICE,
                (returner,),
            )
        elif path < 0.85 or self.policy.max_rehandling_rounds == 0:
            self.dispatch()
            self.handle_round()
            self.verify()
            self.rate(Rating.DISSATISFIED)
            if self.policy.max_rehandling_rounds:
                self.handle_round(notes=False)
                self.verify()
                self.rate(self.happy_rating())
            self.findings(
                "首次处置不彻底，群众不满意后重办",
                self.rng.choice((ReviewOutcome.NOTICE, ReviewOutcome.INTERVIEW)),
                (self.lead,),
            )
        else:
            self.dissatisfied_rounds(self.policy.max_rehandling_rounds + 1)
            self.findings(
                "多次重办仍未达到群众满意，长效管理机制缺失",
                ReviewOutcome.SCORE_DEDUCTION,
                (self.lead, *self.co),
            )


# ---- running a plan against Temporal --------------------------------------------------------


@dataclass
class CaseOutcome:
    plan: CasePlan
    case_no: str | None = None
    created: bool = False
    stage: Stage | None = None
    status: Status | None = None
    suspended: bool = False
    sign_due: list[datetime] = field(default_factory=list)
    error: str | None = None


@dataclass
class DemoRun:
    outcomes: list[CaseOutcome]
    seconds: float

    @property
    def created(self) -> int:
        return sum(1 for o in self.outcomes if o.created)

    @property
    def failed(self) -> list[CaseOutcome]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def sign_deadlines(self) -> list[datetime]:
        return sorted(d for o in self.outcomes for d in o.sign_due)


async def generate_demo_cases(
    client: Client,
    sessions: sessionmaker[Session],
    *,
    task_queue: str,
    case_prefix: str,
    count: int = DEFAULT_CASES,
    seed: int = DEFAULT_SEED,
    timezone: str = "Asia/Shanghai",
    concurrency: int = CONCURRENCY,
    progress: Callable[[int, int], None] | None = None,
) -> DemoRun:
    """Report `count` cases and drive each to its planned place; see the module docstring."""
    started = time.monotonic()
    with sessions() as session:
        reference = load_reference(session)
    plans = plan_cases(reference, count, seed)
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(plan: CasePlan) -> CaseOutcome:
        nonlocal done
        async with gate:
            outcome = await _drive(client, sessions, plan, task_queue, case_prefix, timezone)
        done += 1
        if progress is not None:
            progress(done, count)
        return outcome

    outcomes = await asyncio.gather(*(one(plan) for plan in plans))

    async def read_back(outcome: CaseOutcome) -> None:
        async with gate:
            await _read_back(client, outcome)

    await asyncio.gather(*(read_back(o) for o in outcomes if o.case_no is not None))
    return DemoRun(outcomes=list(outcomes), seconds=time.monotonic() - started)


FAILURES = (
    WorkflowUpdateFailedError,
    WorkflowQueryFailedError,
    RPCError,
    IdempotencyConflict,
    UnknownReference,
    SQLAlchemyError,
)


async def _drive(
    client: Client,
    sessions: sessionmaker[Session],
    plan: CasePlan,
    task_queue: str,
    case_prefix: str,
    timezone: str,
) -> CaseOutcome:
    outcome = CaseOutcome(plan=plan)
    try:
        reported = await report_case(
            client,
            sessions,
            new_case=plan.new_case,
            reported_by=plan.reporter,
            reported_at=datetime.now(ZoneInfo(timezone)),
            task_queue=task_queue,
            case_prefix=case_prefix,
            idempotency_key=plan.key,
        )
        outcome.case_no, outcome.created = reported.case_no, reported.created
        handle = cases.case_handle(client, reported.case_no)
        answered: dict[str, ActionAccepted] = {}
        if not reported.created:
            # An earlier run made it: send only what it did not get to. (A repeated request id
            # would be a no-op anyway, but an archived case's workflow takes no Updates at all.)
            state = (await cases.read_case(handle)).case
            if state.stage is Stage.ARCHIVED:
                return outcome
            answered = state.answered
        answer: ActionAccepted | None = None
        for command in plan.steps:
            answer = answered.get(command.request_id) or await cases.act(handle, command)
        sampled = answer is not None and answer.status is Status.AWAITING_REVIEW
        if sampled and plan.review_if_sampled is not None:
            await cases.act(handle, plan.review_if_sampled)
    except WorkflowUpdateRPCTimeoutOrCancelledError as failed:
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # interrupted (Ctrl-C): stop, not a failure
            raise asyncio.CancelledError from failed
        outcome.error = f"{type(failed).__name__}: {_cause(failed)}"
    except FAILURES as failed:
        outcome.error = f"{type(failed).__name__}: {_cause(failed)}"
    return outcome


def _cause(failed: BaseException) -> str:
    while failed.__cause__ is not None:
        failed = failed.__cause__
    return str(failed)


async def _read_back(client: Client, outcome: CaseOutcome) -> None:
    """Where the case really is now (the workflow is the source of truth)."""
    assert outcome.case_no is not None
    try:
        snapshot = await cases.read_case(cases.case_handle(client, outcome.case_no))
    except FAILURES as failed:
        outcome.error = outcome.error or f"{type(failed).__name__}: {_cause(failed)}"
        return
    case = snapshot.case
    outcome.stage, outcome.status, outcome.suspended = (
        case.stage,
        case.status,
        snapshot.flags.suspended,
    )
    outcome.sign_due = [
        a.sign_clock.due_at
        for a in case.round_assignments()
        if a.active and a.signed_at is None and a.sign_clock.running
    ]


# ---- the report ---------------------------------------------------------------------------


def summary_lines(run: DemoRun, timezone: str) -> list[str]:
    zone = ZoneInfo(timezone)
    counts = Counter(
        (o.stage, o.status) for o in run.outcomes if o.stage is not None and o.status is not None
    )
    lines = ["", f"{'stage':<10} {'status':<22} {'cases':>5}", "-" * 39]
    previous: Stage | None = None
    for stage in Stage:
        for status in Status:
            if counts[(stage, status)]:
                label = stage.value if stage is not previous else ""
                lines.append(f"{label:<10} {status.value:<22} {counts[(stage, status)]:>5}")
                previous = stage
    lines.append("-" * 39)
    lines.append(f"{'total':<33} {sum(counts.values()):>5}")
    suspended = sum(1 for o in run.outcomes if o.suspended)
    lines.append("")
    lines.append(
        f"{run.created} reported now, {len(run.outcomes) - run.created - len(run.failed)} "
        f"already there from an earlier run, {len(run.failed)} failed; "
        f"{suspended} suspended; {run.seconds:.1f} s"
    )
    deadlines = run.sign_deadlines
    if deadlines:
        first, last = deadlines[0].astimezone(zone), deadlines[-1].astimezone(zone)
        lines.append(
            f"{len(deadlines)} assignments await signing (签收): the first sign-for deadline "
            f"falls due at {first:%Y-%m-%d %H:%M} ({timezone}), the last at {last:%Y-%m-%d %H:%M}; "
            "from then on they show as overdue, urged and, later, supervised"
        )
    for outcome in run.failed[:10]:
        lines.append(f"failed: {outcome.plan.key} ({outcome.plan.scenario.value}): {outcome.error}")
    return lines


# ---- `gridloop demo` ------------------------------------------------------------------------


async def run_demo(settings: Settings, *, cases: int, seed: int) -> int:
    """The command: against the running stack (`gridloop up`), with its read model."""
    address = settings.effective_temporal_address
    sessions = prepare_read_model(database_url(settings.database_url, settings.data_dir))
    try:
        client = await connect(address, settings.temporal_namespace)
    except RuntimeError as exc:
        print(
            f"gridloop demo: cannot reach Temporal at {address} ({exc}); is `gridloop up` running?",
            file=sys.stderr,
        )
        return 1
    print(
        f"reporting {cases} demo cases (seed {seed}) to {address}, "
        f"task queue {settings.task_queue}, {CONCURRENCY} at a time"
    )
    try:
        run = await generate_demo_cases(
            client,
            sessions,
            task_queue=settings.task_queue,
            case_prefix=settings.case_prefix,
            count=cases,
            seed=seed,
            timezone=settings.timezone,
            progress=_progress_printer(),
        )
    except MissingReference as exc:
        print(f"gridloop demo: {exc}", file=sys.stderr)
        return 1
    for line in summary_lines(run, settings.timezone):
        print(line)
    return 1 if run.failed else 0


def _progress_printer() -> Callable[[int, int], None]:
    """`12/300 cases` on one line on a terminal, else a line every tenth of the way."""
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty:
            end = "\n" if done == total else ""
            print(f"\r{done}/{total} cases", end=end, file=sys.stderr, flush=True)
        elif done == total or done % max(total // 10, 1) == 0:
            print(f"{done}/{total} cases", file=sys.stderr, flush=True)

    return progress
