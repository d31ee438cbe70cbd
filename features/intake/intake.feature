# language: zh-CN
功能: 接收单位收到的每一种电子发票，准确读取数据和元数据
  财会〔2020〕6号要求系统准确、完整地接收和读取电子会计凭证及其元数据。
  每个字段都记录来源；同一张发票无论以 OFD、XML 还是 PDF 到达，都是同一张发票。

  场景大纲: 读取各类电子发票，字段与样本登记的结果一致
    当经办人"张经办"上传样本发票"<样本>"
    那么系统接收该发票，种类为"<种类>"
    而且发票的各项字段与 expected.json 中该样本的记录一致
    而且每个字段都注明了数据来源

    例子:
      | 样本                                              | 种类                  |
      | ofdrw/converter__1.ofd                            | vat_e_normal          |
      | easyofd/增值税电子专票5.ofd                        | vat_e_special         |
      | ofd-go/售票换开样例.ofd                            | railway_ticket        |
      | ofd-go/退票样例.ofd                                | railway_ticket_refund |
      | xml/dzfp_24112000000051234567_red_synthetic.xml   | digital_normal        |

  场景: 同一张数电票的 OFD 与 XML 是同一张发票
    当经办人"张经办"上传样本发票"ofdrw/converter__20240531141733.ofd"
    而且经办人"张经办"再上传样本发票"xml/dzfp_24112000000048542163_synthetic.xml"
    那么第二次上传被拒绝，错误代码为"duplicate_invoice"，业务键相同

  场景: 红字发票记录其冲销的原发票
    当经办人"张经办"上传样本发票"xml/dzfp_24112000000051234567_red_synthetic.xml"
    那么发票标记为红字发票，金额为负数，并记录原发票号码

  场景大纲: 恶意或损坏的文件被拒绝，给出明确的错误代码，且不留下任何数据
    当经办人"张经办"上传恶意文件"<文件>"
    那么系统拒绝，错误代码为"<错误代码>"
    而且数据库与档案存储中没有留下任何记录

    例子:
      | 文件                     | 错误代码           |
      | 解压后极大的 ZIP 炸弹      | zip_bomb           |
      | 含路径穿越成员的 OFD       | path_traversal     |
      | 声明了实体的 XML           | xml_dtd_forbidden  |
